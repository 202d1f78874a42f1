"""Kill and resume: `connectome ingest cave` is SIGKILLed mid-way (after some pages landed), run again,
and must end with exactly the rows of a clean run, fetching only what was missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from connectome.store import read_table
from connectome.ingest.cave import FetchOptions, get_preset, ingest_cave
from connectome.ingest.cave.ledger import work_folder
from connectome.ingest.testing import CaveTestServer, flywire_datastack


def _tables(path):
    keys = {"synapses": ["synapse_id"], "edges": ["pre_root_id", "post_root_id"], "nodes": ["root_id"]}
    return {t: read_table(path, t).sort_values(k, ignore_index=True) for t, k in keys.items()}


def _pages(out: Path) -> int:
    led = work_folder(out) / "ledger.jsonl"
    return led.read_text().count('"kind": "page"') if led.is_file() else 0


@pytest.mark.parametrize("mode", ["version", "timestamp"])
def test_sigkill_mid_ingest_then_resume_equals_clean_run(tmp_path, mode):
    when = ["--version", "783"] if mode == "version" else ["--timestamp", "2025-02-01T00:00:00Z"]
    with CaveTestServer([flywire_datastack(14_000, 220, seed=21)], max_rows=1_200, batch_rows=500) as srv:
        out = tmp_path / "killed"
        args = [str(Path(sys.executable).with_name("connectome")), "--no-progress", "ingest", "cave",
                "--preset", "flywire", *when, "--server", srv.url, "--page-rows", "700", "--concurrency", "2",
                "--out", str(out)]
        slow = srv.add_fault("delay", delay=0.12, match="query", times=None)
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "CONNECTOME_PROGRESS": "0"})
        try:
            t0 = time.monotonic()
            while _pages(out) < 6:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() - t0 < 60, "no pages landed"
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        landed = _pages(out)
        assert landed >= 6 and not (out / "CURRENT").exists()  # nothing half-written is visible
        srv.faults.remove(slow)
        srv.reset_stats()
        rerun = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "CONNECTOME_PROGRESS": "0"},
                               timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        resumed_queries = srv.stats["query"]
        assert not work_folder(out).exists()
        srv.reset_stats()
        opts = FetchOptions(page_rows=700, concurrency=2)
        clean = ingest_cave(get_preset("flywire").with_overrides(server=srv.url), tmp_path / "clean", options=opts,
                            progress=False,
                            **({"version": 783} if mode == "version" else {"timestamp": "2025-02-01T00:00:00Z"}))
        clean_queries = srv.stats["query"]
        got, want = _tables(out), _tables(clean)
        for t in ("synapses", "edges", "nodes"):
            assert len(got[t]) == len(want[t]) > 0
            pd.testing.assert_frame_equal(got[t], want[t], obj=t)
        assert resumed_queries <= clean_queries - landed  # the finished pages were not fetched again
