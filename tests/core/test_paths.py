"""The same results on the in-memory path and on Dask with every scheduler:
synchronous, threaded, a LocalCluster with process workers, and a scheduler address."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from helpers import run_python


def results(c: cx.Connectome) -> dict:
    """A fingerprint of many operations on ``c`` (all returned as pandas/numpy)."""
    seeds = cx.ids_of(c)[:3]
    strong = cx.filter_edges(c, min_synapses=3, edge_kind="chemical")
    hood = cx.neighborhood(strong, seeds, k=2, direction="both")
    label = "simple_group" if "simple_group" in c.label_columns else "cell_type"
    sel = cx.select(c, **{label: sorted(c.node_table()[label].dropna().unique())[:3]})
    csr = cx.to_csr(c)
    return {
        "strong": strong.edge_table(),
        "hood_nodes": hood.node_table(),
        "hood_edges": hood.edge_table(),
        "select": sel.edge_table(),
        "collapse": cx.collapse(c, by=label, min_synapses=2),
        "pairs": cx.pair_totals(c),
        "csr": (csr.ids, csr.matrix.indptr, csr.matrix.indices, csr.matrix.data),
        "summary": {k: v for k, v in cx.summary(c).items()
                    if k not in ("name", "title", "species", "source", "version", "derived")},
    }


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], pd.DataFrame):
            pd.testing.assert_frame_equal(a[k].reset_index(drop=True), b[k].reset_index(drop=True), obj=k)
        elif isinstance(a[k], tuple):
            for x, y in zip(a[k], b[k]):
                np.testing.assert_array_equal(x, y)
        else:
            assert a[k] == b[k], k


@pytest.fixture(scope="module")
def reference(larva_store):
    return results(cx.load(larva_store, in_memory=True))


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_dask_path_equals_in_memory(larva_store, reference, scheduler):
    with cx.use_scheduler(scheduler):
        lazy = cx.load(larva_store, in_memory=False)
        assert not lazy.in_memory
        assert_same(results(lazy), reference)


@pytest.mark.cluster
def test_local_cluster_process_workers_equal_in_memory(larva_store, reference, cluster_client):
    info = cluster_client.scheduler_info()
    assert len(info["workers"]) == 2
    pids = set(cluster_client.run(os.getpid).values())
    assert os.getpid() not in pids  # work really runs in other processes
    with cx.use_scheduler(cluster_client):
        assert_same(results(cx.load(larva_store, in_memory=False)), reference)


@pytest.mark.cluster
def test_scheduler_address_from_environment(larva_store, reference, cluster_client, monkeypatch):
    address = cluster_client.scheduler.address
    monkeypatch.setenv("CONNECTOME_SCHEDULER", address)
    from connectome.scheduler import scheduler_name

    assert scheduler_name() == address
    assert_same(results(cx.load(larva_store, in_memory=False)), reference)
    # and as an argument, from a fresh Python process that only knows the address
    code = (
        "import connectome as cx, sys\n"
        "c = cx.load(sys.argv[1], in_memory=False)\n"
        "with cx.use_scheduler(sys.argv[2]):\n"
        "    print(int(cx.pair_totals(c)['synapse_count'].sum()))\n"
    )
    out = run_python(code, str(larva_store), address)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) == int(reference["pairs"]["synapse_count"].sum())


def test_unreachable_scheduler_is_a_clear_error(larva_store):
    import time

    c = cx.load(larva_store, in_memory=False)
    t0 = time.time()
    with pytest.raises(cx.errors.SchedulerError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        with cx.use_scheduler("tcp://127.0.0.1:9"):
            cx.pair_totals(c)
    assert time.time() - t0 < 15
    with pytest.raises(cx.errors.InputError, match="scheduler: unknown value 'fast'"):
        cx.set_scheduler("fast")


def test_from_pandas_connectome_on_dask_path(reference, larva_store):
    t = cx.load(larva_store).to_pandas()
    c = cx.from_edges(t.edges, t.nodes).lazy()  # partition-wise path on frames built from pandas
    with cx.use_scheduler("sync"):
        assert_same(results(c), reference)
