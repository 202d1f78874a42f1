"""What an HTTP reply shows: no server paths in a dataset's provenance, error advice in the
request's own terms (JSON fields, not Python keyword arguments or ``cx.`` calls)."""

from __future__ import annotations

import pandas as pd
import pytest

import connectome as cx
from connectome.api.errors import error_from_exception
from connectome.api.testing import ServiceProcess
from connectome.cli import python_syntax
from connectome.ingest.release import ingest_tables
from helpers import api_client

IDS = [648518346349538157, 720575940621039145, 648518346349539887]
DS = "provenance_test"


def _tables(folder) -> tuple:
    folder.mkdir(parents=True, exist_ok=True)
    edges = pd.DataFrame({"pre_root_id": [IDS[0], IDS[1], IDS[2]], "post_root_id": [IDS[1], IDS[2], IDS[0]],
                          "synapse_count": [3, 4, 5]})
    nodes = pd.DataFrame({"root_id": IDS, "cell_type": ["KC", "MBON", "DAN"]})
    edges.to_csv(folder / "edges.csv", index=False)
    nodes.to_csv(folder / "nodes.csv", index=False)
    return folder / "edges.csv", folder / "nodes.csv", edges, nodes


def _strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


# --------------------------------------------------------------------------- errors, without a server
def test_empty_selection_error_has_no_python_advice(tmp_path):
    *_, edges, nodes = _tables(tmp_path)
    c = cx.from_edges(edges, nodes)
    with pytest.raises(cx.errors.LabelError, match="allow_empty=True") as info:  # written for Python callers
        cx.ids_of(c, cell_type="KCC")
    status, body = error_from_exception(info.value)
    msg = body["error"]["message"]
    assert status == 400 and body["error"]["field"] == "cell_type"
    assert "allow_empty" not in msg and python_syntax(msg) == [], msg  # no such request field: left out
    assert msg.startswith('cell_type: no node has "cell_type": "KCC"') and "'KC'" in msg, msg


def test_python_advice_names_the_request_fields(tmp_path):
    *_, edges, nodes = _tables(tmp_path)
    c = cx.from_edges(edges, nodes)
    with pytest.raises(cx.errors.InputError, match="pass shortest=True or weight=None") as info:
        cx.count_paths(c, [IDS[0]], [IDS[2]], 3, shortest=False, weight="inverse_synapses")
    status, body = error_from_exception(info.value)
    msg = body["error"]["message"]
    assert status == 400 and python_syntax(msg) == [], msg
    assert msg.endswith('pass "shortest": true or "weight": null'), msg
    with pytest.raises(cx.errors.IdError, match=r"cx\.ids_of") as info:
        cx.shortest_paths(c, [12], [IDS[2]])
    msg = error_from_exception(info.value)[1]["error"]["message"]
    assert "cx." not in msg and "not in" in msg and "dataset version" in msg, msg


# --------------------------------------------------------------------------- a real server
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("api-replies")
    e, n, *_ = _tables(root / "exports" / "private-folder")
    ingest_tables(e, n, name=DS, out=root / "home" / DS, progress=False)  # provenance names both files
    assert str(root) in cx.load(root / "home" / DS).manifest.source["edges_file"]
    with ServiceProcess(root / "svc", cluster="threads", workers=1,
                        env={"CONNECTOME_HOME": str(root / "home"), "CONNECTOME_PROGRESS": "0"}) as sp:
        sp.root = root
        yield sp


@pytest.fixture(scope="module")
def api(server):
    with api_client(server) as client:
        yield client


@pytest.mark.parametrize("route", ["summary", "manifest"])
def test_provenance_shows_no_server_path(api, server, route):
    r = api.get(f"/datasets/{DS}/{route}")
    assert r.status_code == 200, r.text
    body = r.json()
    leaked = [s for s in _strings(body) if str(server.root) in s or "private-folder" in s or s.startswith("/")]
    assert leaked == [], leaked
    assert body["source"]["edges_file"] == "edges.csv" and body["source"]["nodes_file"] == "nodes.csv"
    if route == "manifest":  # the store's own files stay named within the store
        assert body["tables"]["edges"]["files"][0]["path"].startswith("edges/")
    else:
        assert body["nodes"] == 3


def test_http_error_for_an_empty_selection_speaks_json(api):
    r = api.post(f"/datasets/{DS}/paths", json={"sources": {"select": {"cell_type": "KCC"}},
                                                "targets": {"root_ids": [str(IDS[2])]}})
    assert r.status_code == 400, r.text
    msg = r.json()["error"]["message"]
    assert "allow_empty" not in msg and python_syntax(msg) == [], msg
    assert '"cell_type": "KCC"' in msg and "'KC'" in msg, msg
