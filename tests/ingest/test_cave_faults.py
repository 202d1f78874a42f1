"""Fault injection: 5xx replies, timeouts, dropped connections, truncated bodies and Arrow streams,
failures past every retry, and materialization versions that change or expire mid-ingest.
Every run that succeeds must end with exactly the rows of a clean run."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.store import read_table
from connectome.ingest.cave import FetchOptions, Selection, get_preset, ingest_cave
from connectome.ingest.cave.errors import CaveServerError, VersionExpiredError
from connectome.ingest.cave.ledger import work_folder
from connectome.ingest.testing import CaveTestServer, microns_datastack

OPTS = FetchOptions(page_rows=1_000, concurrency=3, retries=4, backoff=0.01, max_backoff=0.05, timeout=5.0)


def microns(url):
    return get_preset("microns").with_overrides(server=url)


def tables(path):
    out = {}
    for t in ("synapses", "edges", "nodes"):
        df = read_table(path, t)
        key = {"synapses": ["synapse_id"], "edges": ["pre_root_id", "post_root_id"], "nodes": ["root_id"]}[t]
        out[t] = df.sort_values(key, ignore_index=True)
    return out


def assert_same(a, b):
    for t in ("synapses", "edges", "nodes"):
        pd.testing.assert_frame_equal(a[t], b[t], check_like=False, obj=t)


@pytest.fixture(scope="module")
def server():
    with CaveTestServer([microns_datastack(9_000, 200, seed=11)], max_rows=1_500, batch_rows=300) as srv:
        yield srv


@pytest.fixture(scope="module")
def clean(server, tmp_path_factory):
    p = ingest_cave(microns(server.url), tmp_path_factory.mktemp("clean") / "s", version=661, options=OPTS,
                    progress=False)
    return tables(p)


@pytest.fixture(autouse=True)
def _no_faults(server):
    server.clear_faults()
    yield
    server.clear_faults()


@pytest.mark.parametrize("kind, extra", [
    ("status", {"code": 503}),
    ("status", {"code": 500}),
    ("status", {"code": 502, "match": ""}),  # also metadata and probe requests
    ("timeout", {"delay": 1.0}),
    ("drop", {}),
    ("truncate_body", {}),
    ("truncate", {}),
], ids=["503", "500", "502-everywhere", "timeout", "drop", "truncate-body", "truncate-arrow"])
def test_transient_faults_end_with_exact_data(server, clean, tmp_path, kind, extra):
    kw = {"match": "query", "times": 3, "after": 2, **extra}
    fault = server.add_fault(kind, **kw)
    opts = FetchOptions(page_rows=1_000, concurrency=3, retries=4, backoff=0.01, max_backoff=0.05,
                        timeout=0.5 if kind == "timeout" else 5.0)
    p = ingest_cave(microns(server.url), tmp_path / "s", version=661, options=opts, progress=False)
    assert fault.hits == 3  # the faults really happened
    assert_same(tables(p), clean)
    assert not work_folder(p).exists()


def test_plain_caveclient_misses_a_cut_arrow_stream_we_do_not(server):
    """The fault is silent for a plain client: a valid HTTP reply, a parseable stream, fewer rows."""
    from caveclient import CAVEclient

    client = CAVEclient("minnie65_public", server_address=server.url, write_server_cache=False)
    full = client.materialize.query_table("synapses_pni_2", materialization_version=661, limit=1_000,
                                          split_positions=True)
    server.add_fault("truncate", times=1)
    cut = client.materialize.query_table("synapses_pni_2", materialization_version=661, limit=1_000,
                                         split_positions=True)
    assert len(cut) < len(full) == 1_000  # rows lost without any error
    from connectome.ingest.cave.session import connect

    s = connect("minnie65_public", server.url, options=OPTS)
    server.add_fault("truncate", times=1)
    df, capped = s.query("synapses_pni_2", version=661, timestamp=None, filters={}, select=None, limit=1_000,
                         merge_reference=False, what="test")
    assert len(df) == 1_000 and s.retries_done == {"truncated reply": 1}


def test_failure_past_all_retries_then_resume_is_exact(server, clean, tmp_path):
    out = tmp_path / "s"
    server.add_fault("status", code=500, match="query", times=None, after=14)
    opts = FetchOptions(page_rows=1_000, concurrency=2, retries=2, backoff=0.01, max_backoff=0.02)
    with pytest.raises(CaveServerError, match="still failing after 2 retries .*rerun the same command"):
        ingest_cave(microns(server.url), out, version=661, options=opts, progress=False)
    assert not (out / "CURRENT").exists()
    led = (work_folder(out) / "ledger.jsonl").read_text()
    assert led.count('"kind": "page"') >= 2
    server.clear_faults()
    server.reset_stats()
    p = ingest_cave(microns(server.url), out, version=661, options=opts, progress=False)
    assert_same(tables(p), clean)
    resumed = server.stats["query"] + server.stats["join_query"]
    server.reset_stats()
    ingest_cave(microns(server.url), tmp_path / "full", version=661, options=opts, progress=False)
    assert resumed < server.stats["query"] + server.stats["join_query"]  # the rerun skipped finished pages


def test_latest_version_is_recorded_and_kept_when_a_new_one_appears(tmp_path):
    with CaveTestServer([microns_datastack(6_000, 150, seed=12)], max_rows=1_500) as srv:
        ref = tables(ingest_cave(microns(srv.url), tmp_path / "ref", version=661, options=OPTS, progress=False))
        out = tmp_path / "latest"
        srv.add_fault("status", code=503, match="query", times=None, after=14)
        with pytest.raises(CaveServerError):
            ingest_cave(microns(srv.url), out, options=OPTS, progress=False)
        srv.clear_faults()
        new = srv.publish_version("minnie65_public")  # proofreading since 661 changed root ids
        p = ingest_cave(microns(srv.url), out, options=OPTS, progress=False)
        assert cx.load(p).manifest.version == {"materialization": 661}
        assert_same(tables(p), ref)
        fresh = ingest_cave(microns(srv.url), tmp_path / "fresh", options=OPTS, progress=False)
        assert cx.load(fresh).manifest.version == {"materialization": new}
        assert not tables(fresh)["edges"]["pre_root_id"].equals(ref["edges"]["pre_root_id"])


def test_version_expiring_mid_ingest_says_so(tmp_path):
    with CaveTestServer([microns_datastack(6_000, 150, seed=13)], max_rows=1_500) as srv:
        out = tmp_path / "s"
        srv.add_fault("delay", delay=0.15, match="query", times=None)
        ledger = work_folder(out) / "ledger.jsonl"

        def expire_when_pages_land():
            t0 = time.monotonic()
            while time.monotonic() - t0 < 20:
                if ledger.is_file() and ledger.read_text().count('"kind": "page"') >= 2:
                    srv.expire_version("minnie65_public", 661)
                    return
                time.sleep(0.01)

        th = threading.Thread(target=expire_when_pages_land)
        th.start()
        opts = FetchOptions(page_rows=800, concurrency=1, retries=1, backoff=0.01)
        with pytest.raises(VersionExpiredError, match="661 of minnie65_public has expired.*--timestamp"):
            ingest_cave(microns(srv.url), out, version=661, options=opts, progress=False)
        th.join()
        srv.clear_faults()
        with pytest.raises(VersionExpiredError, match="cannot be completed: pass restart=True"):
            ingest_cave(microns(srv.url), out, version=661, options=opts, progress=False)


def test_two_runs_never_share_a_work_folder(server, tmp_path):
    from connectome.ingest.cave.errors import ResumeMismatchError
    from connectome.ingest.cave.ledger import Ledger

    out = tmp_path / "s"
    held = Ledger.open(out, {"another": "run"})
    try:
        with pytest.raises(ResumeMismatchError, match="another ingest is running"):
            ingest_cave(microns(server.url), out, version=661, options=OPTS, progress=False)
    finally:
        held.close()
    p = ingest_cave(microns(server.url), out, version=661, options=OPTS, progress=False, restart=True)
    assert cx.load(p).manifest.rows("synapses") > 0


def test_other_parameters_do_not_resume_silently(server, tmp_path):
    from connectome.ingest.cave.errors import ResumeMismatchError

    out = tmp_path / "s"
    server.add_fault("status", code=500, match="query", times=None, after=12)
    opts = FetchOptions(page_rows=1_000, concurrency=1, retries=0, backoff=0.01)
    with pytest.raises(CaveServerError):
        ingest_cave(microns(server.url), out, version=661, options=opts, progress=False)
    server.clear_faults()
    with pytest.raises(ResumeMismatchError, match="differing: selection"):
        ingest_cave(microns(server.url), out, version=661, options=opts, progress=False,
                    selection=Selection(bbox=[0, 0, 0, 10**6, 10**6, 10**5], bbox_units="voxels"))
    p = ingest_cave(microns(server.url), out, version=661, options=opts, progress=False,
                    selection=Selection(bbox=[0, 0, 0, 10**6, 10**6, 10**5], bbox_units="voxels"), restart=True)
    assert cx.load(p).manifest.source["selection"]["bbox_units"] == "voxels"
    assert np.isfinite(read_table(p, "synapses")["x_nm"]).all()


def test_a_failing_handler_answers_500_and_the_server_keeps_serving(monkeypatch, caplog):
    """A bug in the loopback server is a 500 with its message (as a real service answers), never a dropped
    connection that a client would retry as a network fault."""
    import json
    import urllib.error
    import urllib.request

    with CaveTestServer([microns_datastack(300, 20, seed=5)]) as srv:
        real = srv.handle

        def boom(method, route, params, query, body):
            if route == "datastacks":
                raise RuntimeError("handler bug")
            return real(method, route, params, query, body)

        monkeypatch.setattr(srv, "handle", boom)
        with caplog.at_level("ERROR", logger="connectome.ingest.testing.cave_server"):
            with pytest.raises(urllib.error.HTTPError) as exc:
                urllib.request.urlopen(f"{srv.url}/info/api/v2/datastacks", timeout=10)
        assert exc.value.code == 500
        assert json.loads(exc.value.read())["message"] == "internal server error: RuntimeError: handler bug"
        assert "handler of 'datastacks' failed" in caplog.text
        with urllib.request.urlopen(f"{srv.url}/info/version", timeout=10) as r:  # still serving
            assert r.status == 200
