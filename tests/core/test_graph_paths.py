"""Graph paths (cx.shortest_paths, cx.paths, cx.count_paths) against networkx on C. elegans and
the larva. (tests/core/test_paths.py is about execution paths: in-memory vs Dask.)"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import connectome as cx


@pytest.fixture(scope="module")
def larva(larva_store):
    return cx.load(larva_store)


def _nx(c: cx.Connectome, min_syn: int, weighted: bool = False) -> nx.DiGraph:
    p = cx.pair_totals(c)
    p = p[(p.synapse_count >= min_syn) & (p.pre_root_id != p.post_root_id)]
    g = nx.DiGraph()
    g.add_nodes_from(int(x) for x in c.node_table().root_id)
    for a, b, w in p.itertuples(index=False):
        g.add_edge(int(a), int(b), w=1.0 / w if weighted else 1.0, syn=int(w))
    return g


def _ours(df) -> set[tuple[int, ...]]:
    return {tuple(int(x) for x in grp.root_id) for _, grp in df.groupby("path_id")}


def _pick(c, n, seed):
    ids = c.node_table().root_id.to_numpy()
    return np.random.default_rng(seed).choice(ids, size=n, replace=False)


@pytest.mark.parametrize("name,min_syn", [("celegans", 1), ("celegans", 5), ("larva", 5), ("larva", 2)])
def test_all_shortest_paths_equal_networkx(name, min_syn, larva):
    c = cx.load("celegans_cook2019_herm") if name == "celegans" else larva
    g = _nx(c, min_syn)
    src, tgt = _pick(c, 12, 1), _pick(c, 12, 2)
    ref = set()
    for s in src:
        for t in tgt:
            if s != t and nx.has_path(g, int(s), int(t)):
                ref |= {tuple(p) for p in nx.all_shortest_paths(g, int(s), int(t))}
    got = cx.shortest_paths(c, src, tgt, min_synapses=min_syn, labels=[])
    assert _ours(got) == ref
    assert got.attrs["paths"] == len(ref)
    n = cx.count_paths(c, src, tgt, None, min_syn, shortest=True)
    assert n.attrs["total"] == len(ref)
    # synapses of each hop are the pair's synapses
    hops = got[got.hop > 0]
    prev = got.root_id.shift(1)[got.hop > 0]
    assert all(g.edges[int(a), int(b)]["syn"] == int(w)
               for a, b, w in zip(prev, hops.root_id, hops.synapse_count))


def test_weighted_shortest_paths_equal_networkx(larva):
    g = _nx(larva, 3, weighted=True)
    src, tgt = _pick(larva, 6, 3), _pick(larva, 6, 4)
    ref = set()
    for s in src:
        for t in tgt:
            if s != t and nx.has_path(g, int(s), int(t)):
                ref |= {tuple(p) for p in nx.all_shortest_paths(g, int(s), int(t), weight="w")}
    got = cx.shortest_paths(larva, src, tgt, min_synapses=3, weight="inverse_synapses", labels=[])
    assert _ours(got) == ref


@pytest.mark.parametrize("name,min_syn,k", [("celegans", 5, 3), ("larva", 10, 3), ("larva", 5, 2)])
def test_simple_paths_equal_networkx(name, min_syn, k, larva):
    c = cx.load("celegans_cook2019_herm") if name == "celegans" else larva
    g = _nx(c, min_syn)
    src, tgt = _pick(c, 8, 5), _pick(c, 8, 6)
    ref = set()
    for s in src:
        for t in tgt:
            if s != t:
                ref |= {tuple(p) for p in nx.all_simple_paths(g, int(s), int(t), cutoff=k)}
    got = cx.paths(c, src, tgt, max_hops=k, min_synapses=min_syn, labels=[])
    assert _ours(got) == ref
    counts = cx.count_paths(c, src, tgt, max_hops=k, min_synapses=min_syn)
    assert counts.attrs["total"] == len(ref)
    by_hops = counts.groupby("hops").paths.sum().to_dict()
    assert by_hops == {h: sum(1 for p in ref if len(p) - 1 == h) for h in {len(p) - 1 for p in ref}}


def test_order_limit_and_blocks_agree(larva):
    src, tgt = _pick(larva, 20, 7), _pick(larva, 20, 8)
    full = cx.paths(larva, src, tgt, max_hops=2, min_synapses=3, labels=[])
    assert len(full.path_id.unique()) > 10
    lim = cx.paths(larva, src, tgt, max_hops=2, min_synapses=3, limit=5, labels=[])
    assert lim.attrs["truncated"] and lim.attrs["paths"] == 5
    assert lim.reset_index(drop=True).equals(full[full.path_id < 5].reset_index(drop=True))
    for sched in ("sync", "threads"):
        with cx.use_scheduler(sched):
            many = cx.paths(larva, src, tgt, max_hops=2, min_synapses=3, labels=[], blocks=4)
            assert many.equals(full)
            sp = cx.shortest_paths(larva, src, tgt, min_synapses=3, labels=[], blocks=3)
            assert sp.equals(cx.shortest_paths(larva, src, tgt, min_synapses=3, labels=[], blocks=1))


def test_paths_bad_input_and_bounds(larva):
    c = cx.load("celegans_cook2019_herm")
    a, b = cx.ids_of(c, name="ASHL"), cx.ids_of(c, name="AVAL")
    with pytest.raises(cx.errors.IdError, match=r"sources: 1 id\(s\) not in celegans_cook2019_herm: 12"):
        cx.shortest_paths(c, [12], b)
    with pytest.raises(cx.errors.InputError, match="targets: no neurons given"):
        cx.paths(c, a, [], max_hops=2)
    with pytest.raises(cx.errors.InputError, match="max_hops must be a positive number of hops, not 0"):
        cx.paths(c, a, b, max_hops=0)
    with pytest.raises(cx.errors.InputError, match="max_hops=40 is more than 16"):
        cx.paths(c, a, b, max_hops=40)
    with pytest.raises(cx.errors.InputError, match="weight must be None"):
        cx.shortest_paths(c, a, b, weight="synapses")
    src = larva.node_table().root_id.to_numpy()[:200]
    with pytest.raises(cx.errors.QueryTooLargeError, match="more than max_paths=100 paths; pass limit="):
        cx.paths(larva, src, src, max_hops=3, max_paths=100)
    with pytest.raises(cx.errors.QueryTimeoutError, match="time budget of 0.01 s"):
        cx.paths(larva, src, src, max_hops=5, limit=10**7, max_paths=10**7, timeout=0.01)
    none = cx.shortest_paths(c, a, a)
    assert len(none) == 0 and none.attrs["paths"] == 0


def test_signed_paths_multiply_hop_signs():
    c = cx.load("celegans_cook2019_herm")
    p = cx.paths(c, cx.ids_of(c, super_class="sensory")[:20], cx.ids_of(c, cell_type="AVA"), max_hops=2,
                 min_synapses=3, signed=True, labels=["nt_type"])
    assert p.attrs["sign_table"] == "CELEGANS_SIGNS"
    for _, g in p.groupby("path_id"):
        signs = [cx.CELEGANS_SIGNS.get(str(t), 0) if str(t) != "<NA>" else 0 for t in g.nt_type.iloc[:-1]]
        assert g.path_sign.iloc[0] == int(np.prod(np.sign(signs)))
