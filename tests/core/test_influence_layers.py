"""Signed connectivity, influence (against dense numpy) and information-flow layers (against the
navis TraversalModel algorithm, within Monte-Carlo error) on the larva and C. elegans."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import connectome as cx


@pytest.fixture(scope="module")
def larva(larva_store):
    return cx.load(larva_store)


def _dense(c: cx.Connectome, normalize: str | None, signed_w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    ids = c.node_table().root_id.to_numpy()
    n = len(ids)
    p = cx.pair_totals(c)
    i = np.searchsorted(ids, p.pre_root_id.to_numpy())
    j = np.searchsorted(ids, p.post_root_id.to_numpy())
    a = np.zeros((n, n))
    np.add.at(a, (j, i), p.synapse_count.to_numpy(float))
    val = a if signed_w is None else signed_w
    if normalize == "post":
        tot = a.sum(axis=1, keepdims=True)
        w = np.divide(val, tot, out=np.zeros_like(val), where=tot > 0)
    elif normalize == "pre":
        tot = a.sum(axis=0, keepdims=True)
        w = np.divide(val, tot, out=np.zeros_like(val), where=tot > 0)
    else:
        w = val
    return w, ids


@pytest.mark.parametrize("normalize", ["post", "pre"])
def test_influence_k_hops_equals_dense_numpy(larva, normalize):
    w, ids = _dense(larva, normalize)
    pre = np.unique(cx.pair_totals(larva).pre_root_id)
    src = pre[[5, 100, 2000]]
    tgt = ids[::7]
    got = cx.influence(larva, src, tgt, hops=4, normalize=normalize, labels=[])
    cols = np.searchsorted(ids, src)
    x = np.zeros((len(ids), len(src)))
    x[cols, np.arange(len(src))] = 1
    acc = np.zeros_like(x)
    for _ in range(4):
        x = w @ x
        acc += x
    ref = pd.DataFrame(acc[np.searchsorted(ids, tgt)], index=tgt, columns=src)
    for s, t, v in got[["source_root_id", "target_root_id", "influence"]].itertuples(index=False):
        assert v == pytest.approx(ref.loc[t, s], rel=1e-10, abs=1e-15)
    assert len(got) == len(src) * len(tgt)


def test_influence_steady_state_equals_inverse(larva):
    w, ids = _dense(larva, "post")
    src = np.unique(cx.pair_totals(larva).pre_root_id)[[10, 20]]
    got = cx.influence(larva, src, hops=None, alpha=0.8, top=50, labels=[], tol=1e-13)
    n = len(ids)
    full = np.linalg.solve(np.eye(n) - 0.8 * w, np.eye(n)[:, np.searchsorted(ids, src)]) - \
        np.eye(n)[:, np.searchsorted(ids, src)]
    assert got.attrs["converged"]
    for s_i, s in enumerate(src):
        mine = got[got.source_root_id == s]
        ref = full[:, s_i]
        top = np.argsort(-np.abs(ref), kind="stable")[:50]
        assert set(mine.target_root_id) == set(ids[top])
        np.testing.assert_allclose(mine.influence.to_numpy(), ref[np.searchsorted(ids, mine.target_root_id)],
                                   rtol=1e-8)


def test_signed_influence_equals_dense_on_celegans():
    c = cx.load("celegans_cook2019_herm")
    ids = c.node_table().root_id.to_numpy()
    nt = c.node_table().set_index("root_id").nt_type
    p = cx.pair_totals(c)
    sign = p.pre_root_id.map(nt).map(cx.CELEGANS_SIGNS).fillna(0).to_numpy()
    sw = np.zeros((len(ids), len(ids)))
    np.add.at(sw, (np.searchsorted(ids, p.post_root_id), np.searchsorted(ids, p.pre_root_id)),
              sign * p.synapse_count.to_numpy())
    w, _ = _dense(c, "post", sw)
    src = cx.ids_of(c, name=["ASHL", "AVAL"])
    got = cx.influence(c, src, ids, hops=3, signed=True, labels=[])
    cols = np.searchsorted(ids, src)
    x = np.eye(len(ids))[:, cols]
    acc = w @ x + w @ w @ x + w @ w @ w @ x
    for s, t, v in got[["source_root_id", "target_root_id", "influence"]].itertuples(index=False):
        assert v == pytest.approx(acc[np.searchsorted(ids, t), list(src).index(s)], abs=1e-12)
    assert got.attrs["sign_table"] == "CELEGANS_SIGNS" and got.attrs["signs"]["GABA"] == -1


def test_signs_errors(larva):
    c = cx.load("celegans_cook2019_herm")
    with pytest.raises(cx.errors.SignTableError, match=r"no sign for transmitter\(s\) 'BETAINE', 'DA', 'GLUT', 'SER'"):
        cx.influence(c, cx.ids_of(c, name="ASHL"), signed=True, signs={"ACH": 1, "GABA": -1})
    with pytest.raises(cx.errors.SignTableError, match="must be a finite number"):
        cx.signed_pairs(c, signs={**cx.CELEGANS_SIGNS, "ACH": "+"})
    with pytest.raises(cx.errors.ColumnError, match="has no transmitter"):
        cx.influence(larva, larva.node_table().root_id[:1], signed=True)


def test_influence_bad_input():
    c = cx.load("celegans_cook2019_herm")
    ash = cx.ids_of(c, name="ASHL")
    with pytest.raises(cx.errors.InputError, match="hops must be a positive number"):
        cx.influence(c, ash, hops=0)
    with pytest.raises(cx.errors.InputError, match="hops=1000 is more than 100"):
        cx.influence(c, ash, hops=1000)
    with pytest.raises(cx.errors.InputError, match="sources: no neurons given"):
        cx.influence(c, [])
    sinks = cx.partners(c, cx.ids_of(c, super_class="muscle")[:50], direction="downstream")
    silent = np.setdiff1d(cx.ids_of(c, super_class="muscle"), sinks.query_root_id.unique())
    with pytest.raises(cx.errors.SeedError, match="2 of 2 source.s. have no outgoing edges"):
        cx.influence(c, silent[:2])
    partly = cx.influence(c, np.concatenate([silent[:1], ash]), hops=2)
    assert "1 of 2 source(s) have no outgoing edges" in partly.attrs["notes"][0]


def test_influence_steady_state_refuses_an_alpha_at_or_above_one_over_the_spectral_radius():
    c = cx.load("celegans_cook2019_herm")
    ash = cx.ids_of(c, name="ASHL")
    # input-normalised C. elegans weights have spectral radius 1 (to 1e-12), so the bound is alpha < 1
    for alpha in (2.0, 1.0):
        with pytest.raises(cx.errors.DivergenceError, match=r"alpha=.*diverges.*spectral radius of the one-hop "
                           r"weights .*normalize='post'.* is ρ\(W\) = 1(\.0*)?(?!\d).*alpha must be below "
                           r"1/ρ\(W\) = 1.*lower alpha.*or give a finite number of hops") as err:
            cx.influence(c, ash, hops=None, alpha=alpha)
        assert err.value.parameter == "alpha" and isinstance(err.value, cx.errors.InputError)
    ok = cx.influence(c, ash, hops=None, alpha=0.9, top=5)
    assert ok.attrs["converged"] and np.isfinite(ok["influence"]).all()
    assert ok.attrs["spectral_radius_bound"] == pytest.approx(1.0)
    # a finite number of hops is a finite sum: any alpha is allowed
    assert np.isfinite(cx.influence(c, ash, hops=3, alpha=2.0, top=5)["influence"]).all()


def _cycle(weight: int) -> tuple[cx.Connectome, list[int]]:
    ids = [648518346349538157, 720575940621039145, 720575940621039146]
    e = pd.DataFrame({"pre_root_id": ids, "post_root_id": ids[1:] + ids[:1], "synapse_count": [weight] * 3})
    return cx.from_edges(e, name="cycle"), ids


def test_influence_bound_is_computed_for_raw_weights_and_a_legal_alpha_converges():
    g, ids = _cycle(4)  # W = 4 × a 3-cycle permutation: ρ(W) = 4, so alpha must be below 0.25
    with pytest.raises(cx.errors.DivergenceError, match=r"ρ\(W\) = 4(?!\d).*below 1/ρ\(W\) = 0\.25(?!\d)"):
        cx.influence(g, [ids[0]], hops=None, normalize=None, alpha=0.3)
    got = cx.influence(g, [ids[0]], hops=None, normalize=None, alpha=0.2, labels=[], tol=1e-14)
    assert got.attrs["converged"] and got.attrs["spectral_radius_bound"] == pytest.approx(4.0)
    assert got.attrs["spectral_radius"] is None  # 0.2 × the bound 4 < 1 settles it: no eigenvalues needed
    r = 0.8 ** 3  # one trip around the cycle
    want = {ids[1]: 0.8 / (1 - r), ids[2]: 0.64 / (1 - r), ids[0]: r / (1 - r)}
    assert got.target_root_id.astype("int64").tolist() == [ids[1], ids[2], ids[0]]  # exact 64-bit ids
    for t, v in zip(got.target_root_id.astype("int64"), got.influence):
        assert v == pytest.approx(want[int(t)], rel=1e-10)


def test_influence_that_does_not_converge_in_max_iter_says_so(caplog):
    g, ids = _cycle(4)
    with caplog.at_level("WARNING", logger="connectome.effective"):
        got = cx.influence(g, [ids[0]], hops=None, normalize=None, alpha=0.2, labels=[], max_iter=4)
    assert got.attrs["converged"] is False and got.attrs["iterations"] == 4
    assert any("did not converge in max_iter=4" in n for n in got.attrs["notes"])
    assert "did not converge in max_iter=4" in caplog.text


def test_influence_never_reports_converged_for_values_that_are_not_finite():
    # a nilpotent chain (ρ(W) = 0: any alpha converges, the series ends) with huge raw weights overflows
    ids = [648518346349538157 + i for i in range(60)]
    e = pd.DataFrame({"pre_root_id": ids[:-1], "post_root_id": ids[1:], "synapse_count": [10**6] * 59})
    g = cx.from_edges(e, name="chain")
    with pytest.raises(cx.errors.DivergenceError, match="not finite"):
        cx.influence(g, [ids[0]], hops=None, normalize=None, alpha=1e6, labels=[])
    ok = cx.influence(g, [ids[0]], hops=None, normalize=None, alpha=1e-6, labels=[])
    assert ok.attrs["converged"] and ok.attrs["spectral_radius"] == 0.0
    assert ok.influence.iloc[0] == pytest.approx(1.0)


def test_influence_top_among_targets_equals_the_full_table(larva):
    """``top`` with ``targets`` keeps each source's strongest targets: the top rows of the full table."""
    ids = larva.node_table().root_id.to_numpy()
    src, tgt = ids[:70], ids[::3]  # two blocks of sources, targets in their given order
    for kw in ({"hops": 3}, {"hops": None}, {"hops": 2, "normalize": None}):
        full = cx.influence(larva, src, tgt, labels=[], **kw)
        assert len(full) == len(src) * len(tgt)  # every target, zeros included
        for k in (1, 7, len(tgt) + 5):
            top = cx.influence(larva, src, tgt, top=k, labels=[], **kw)
            want = full[full["rank"] <= k].reset_index(drop=True)
            pd.testing.assert_frame_equal(top, want)
            assert top.attrs["top"] == k
    assert cx.influence(larva, src[:3], tgt, labels=[]).attrs["top"] is None
    assert cx.influence(larva, src[:3], labels=[]).attrs["top"] == 100


_MANY_TARGETS = """
import os, resource, sys
import numpy as np, pandas as pd, scipy.sparse, dask
import connectome as cx
n, m = 100_000, 600_000
rng = np.random.default_rng(5)
base = 720575940600000000
e = pd.DataFrame({"pre_root_id": rng.integers(0, n, m) + base, "post_root_id": rng.integers(0, n, m) + base,
                  "synapse_count": rng.integers(1, 20, m)}).drop_duplicates(["pre_root_id", "post_root_id"])
c = cx.from_edges(e, name="wide")
ids = c.node_table().root_id.to_numpy()
cx.influence(c, ids[:2], ids[:3], hops=2, top=1, labels=[], scheduler="sync")  # builds the cached graph
del e
size = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
cap = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (size + cap, size + cap))
try:
    t = cx.influence(c, ids[:320], ids, hops=2, top=10, labels=[], scheduler="sync", progress=False)
except MemoryError:
    print("MEMORY_ERROR")
    sys.exit(3)
print("ROWS", len(t), int(t.groupby("source_root_id").size().max()), t["rank"].max())
"""


def test_influence_with_every_target_and_top_stays_within_a_memory_cap(tmp_path):
    """320 sources x 100,000 targets (32 M pairs, gigabytes as a table) with top=10: only 3,200 rows are built,
    in blocks of 64 sources, under a 700 MiB address-space cap in a child process."""
    import subprocess
    import sys

    script = tmp_path / "many_targets.py"
    script.write_text(_MANY_TARGETS)
    env = {**os.environ, "MALLOC_ARENA_MAX": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "CONNECTOME_PROGRESS": "0"}
    r = subprocess.run([sys.executable, str(script), str(700 * 2**20)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "ROWS 3200 10 10" in r.stdout


# ---------------------------------------------------------------------- layers
def _navis_reference(c: cx.Connectome, seeds: np.ndarray, iterations: int, max_steps: int, threshold: float,
                     rng: np.random.Generator) -> pd.DataFrame:
    """The algorithm of navis.models.TraversalModel.run (navis 1.12) with its default
    random_linear_activation_function(w, max_w=threshold) on input-normalised weights."""
    p = cx.pair_totals(c)
    p = p[p.pre_root_id != p.post_root_id]
    tot = p.groupby("post_root_id").synapse_count.transform("sum")
    sources, targets = p.pre_root_id.to_numpy(), p.post_root_id.to_numpy()
    weights = (p.synapse_count / tot).to_numpy()
    seeds = np.unique(sources[np.isin(sources, seeds)])
    nodes, steps = [], []
    for _ in range(iterations):
        enc, enc_s = seeds, np.ones(len(seeds), int)
        ts, tt, tw = sources, targets, weights
        for i in range(2, max_steps + 1):
            pre = np.isin(ts, enc)
            post = np.isin(tt[pre], enc)
            pnp = np.where(pre)[0][~post]
            out_t, out_w = tt[pnp], tw[pnp]
            pp = np.where(pre)[0][post]
            ts, tt, tw = np.delete(ts, pp), np.delete(tt, pp), np.delete(tw, pp)
            if out_t.size == 0:
                break
            trav = rng.random(len(out_w)) < np.clip(out_w / threshold, 0, 1)
            if not trav.any():
                continue
            new = np.unique(out_t[trav])
            enc = np.concatenate((enc, new))
            enc_s = np.concatenate((enc_s, np.full(len(new), i)))
        nodes.append(enc)
        steps.append(enc_s)
    r = pd.DataFrame({"node": np.concatenate(nodes), "steps": np.concatenate(steps)})
    return r.groupby("node").steps.agg(["mean", "var", "count"])


def test_flow_layers_match_navis_traversal_model_within_monte_carlo_error(larva):
    seeds = cx.ids_of(larva, simple_group="sensories")
    n = 150
    ours = cx.flow_layers(larva, seeds, max_steps=10, n_iterations=n, seed=3, rule="per_edge", labels=[])
    ref = _navis_reference(larva, seeds, n, 10, 0.3, np.random.default_rng(4))
    m = ours.set_index("root_id").join(ref, how="inner")
    m = m[(m["count"] >= 30) & (m.reached >= 0.2)]
    assert len(m) > 1500
    var_ours = (ours.set_index("root_id").loc[m.index, [f"hist_{k}" for k in range(1, 11)]].to_numpy()
                * (np.arange(1, 11)[None, :] - m.layer_mean.to_numpy()[:, None]) ** 2).sum(axis=1) / \
        np.maximum(m.reached.to_numpy() * n - 1, 1)
    se = np.sqrt(var_ours / (m.reached * n) + m["var"].fillna(0) / m["count"]) + 1e-9
    z = (m.layer_mean - m["mean"]).abs() / se
    # Welch z per neuron; with ~2,000 neurons a |z| above 5 would not happen by chance
    assert float(z[se > 1e-6].max()) < 5, z.sort_values().tail()
    assert abs(float((m.layer_mean - m["mean"]).mean())) < 0.02  # no bias overall


def test_flow_layers_seeded_and_blocked_results_equal():
    c = cx.load("celegans_cook2019_herm")
    seeds = cx.ids_of(c, super_class="sensory")
    a = cx.flow_layers(c, seeds, n_iterations=64, seed=9, labels=[])
    for sched in ("sync", "threads"):
        with cx.use_scheduler(sched):
            assert a.equals(cx.flow_layers(c, seeds, n_iterations=64, seed=9, labels=[], blocks=5))
    assert not a.equals(cx.flow_layers(c, seeds, n_iterations=64, seed=10, labels=[]))
    assert (a.hist_1[a.root_id.isin(seeds)] == 64).all()
    assert np.allclose(a.filter(like="hist_").sum(axis=1) / 64, a.reached)
    # summed rule: a neuron with >= threshold of its input from the seeds is layer 2 for sure
    w = cx.adjacency_matrix(c, seeds, c.node_table().root_id, normalize="post")
    sure = w.columns[(w.sum(axis=0) >= 0.3).to_numpy()]
    sure = np.setdiff1d(sure, seeds)
    assert len(sure) > 5
    assert (a.set_index("root_id").loc[sure, "layer_max"] == 2).all()


def test_flow_layers_bad_input():
    c = cx.load("celegans_cook2019_herm")
    sinks = cx.partners(c, cx.ids_of(c, super_class="muscle")[:50], direction="downstream")
    silent = np.setdiff1d(cx.ids_of(c, super_class="muscle"), sinks.query_root_id.unique())
    with pytest.raises(cx.errors.SeedError, match="none of the 2 seed"):
        cx.flow_layers(c, silent[:2])
    with pytest.raises(cx.errors.InputError, match="rule must be"):
        cx.flow_layers(c, cx.ids_of(c, name="ASHL"), rule="navis")
    with pytest.raises(cx.errors.InputError, match="max_steps must be an integer between 1 and 255"):
        cx.flow_layers(c, cx.ids_of(c, name="ASHL"), max_steps=0)
    with pytest.raises(cx.errors.IdError, match="seeds: 1 id"):
        cx.flow_layers(c, [3])


# ---------------------------------------------------------------------- signed layers
def _tiny_signed() -> cx.Connectome:
    """Seeds A (ACh), I (GABA), M (serotonin, sign 0). X gets A and I equally; Y only A; Z only M;
    W gets A (10), I (2) and an unreachable K (8)."""
    ids = {"A": 1, "I": 2, "M": 3, "X": 4, "Y": 5, "Z": 6, "W": 7, "K": 8}
    nt = {"A": "ACH", "I": "GABA", "M": "SER", "K": "ACH", "X": "ACH", "Y": "ACH", "Z": "ACH", "W": "ACH"}
    rows = [("A", "X", 10), ("I", "X", 10), ("A", "Y", 10), ("M", "Z", 10), ("A", "W", 10), ("I", "W", 2),
            ("K", "W", 8)]
    edges = pd.DataFrame({"pre_root_id": [ids[a] for a, _, _ in rows], "post_root_id": [ids[b] for _, b, _ in rows],
                          "synapse_count": [n for _, _, n in rows]})
    nodes = pd.DataFrame({"root_id": list(ids.values()), "name": list(ids), "nt_type": [nt[k] for k in ids]})
    return cx.from_edges(edges, nodes, name="tiny_signed", manifest={"species": "Drosophila melanogaster"})


def test_signed_flow_layers_on_a_tiny_graph():
    c = _tiny_signed()
    seeds = [1, 2, 3]
    n = 3000
    for rule in ("summed", "per_edge"):
        plain = cx.flow_layers(c, seeds, n_iterations=n, seed=7, rule=rule, labels=["name"]).set_index("name")
        signed = cx.flow_layers(c, seeds, n_iterations=n, seed=7, rule=rule, labels=["name"], signed=True)
        assert signed.attrs["signed"] and signed.attrs["sign_table"] == "FLY_SIGNS"
        signed = signed.set_index("name")
        # unsigned: every input excites; X, Y, Z get >= threshold of their input from the seeds
        assert (plain.loc[["X", "Y", "Z"], "hist_2"] == n).all()
        # signed: X's excitation is cancelled by as much inhibition, Z's serotonin input is neutral
        assert (signed.loc[["X", "Z"], "reached"] == 0).all()
        assert signed.loc["Y", "hist_2"] == n and (signed.loc[["A", "I", "M"], "hist_1"] == n).all()
        assert signed.loc["K", "reached"] == 0
    # W: summed drive 10 - 2 = 8 >= 0.3 x 20, activated at once; per edge, I blocks with q = (2/20)/0.3 = 1/3
    summed = cx.flow_layers(c, seeds, n_iterations=n, seed=7, labels=["name"], signed=True).set_index("name")
    assert summed.loc["W", "hist_2"] == n
    per_edge = cx.flow_layers(c, seeds, n_iterations=n, seed=7, rule="per_edge", labels=["name"], signed=True)
    w = per_edge.set_index("name").loc["W"]
    assert w["reached"] == 1.0  # redrawn at every step until it is activated
    p2 = w["hist_2"] / n  # activated at step 2 with probability 2/3
    assert abs(p2 - 2 / 3) < 5 * np.sqrt(2 / 9 / n)
    assert abs(w["hist_3"] / n - 2 / 9) < 5 * np.sqrt(2 / 9 * 7 / 9 / n)


def test_signed_flow_layers_with_all_positive_signs_equal_unsigned():
    c = _tiny_signed()
    for rule in ("summed", "per_edge"):
        a = cx.flow_layers(c, [1, 2, 3], n_iterations=200, seed=3, rule=rule, labels=[])
        b = cx.flow_layers(c, [1, 2, 3], n_iterations=200, seed=3, rule=rule, labels=[], signed=True,
                           signs={"ACH": 1, "GABA": 1, "SER": 1})
        assert a.equals(b)
        assert not a.equals(cx.flow_layers(c, [1, 2, 3], n_iterations=200, seed=3, rule=rule, labels=[],
                                           signed=True))


def test_signed_flow_layers_bad_input():
    c = _tiny_signed()
    with pytest.raises(cx.errors.InputError, match="signs: a sign table only applies") as e:
        cx.flow_layers(c, [1], signs=cx.FLY_SIGNS)
    assert e.value.parameter == "signs"
    with pytest.raises(cx.errors.SeedError, match="no.*excitatory outgoing edge|has an excitatory outgoing edge"):
        cx.flow_layers(c, [2, 3], signed=True)  # GABA and serotonin seeds: nothing can be activated
    assert cx.flow_layers(c, [2, 3], n_iterations=5).loc[lambda t: t.root_id == 4, "reached"].item() == 1
    with pytest.raises(cx.errors.SignTableError, match="no sign for transmitter"):
        cx.flow_layers(c, [1], signed=True, signs={"ACH": 1})
    with pytest.raises(cx.errors.InputError, match="signed must be True or False"):
        cx.flow_layers(c, [1], signed="yes")
    bare = cx.from_edges(pd.DataFrame({"pre_root_id": [1], "post_root_id": [2], "synapse_count": [5]}), name="bare",
                         manifest={"species": "Drosophila melanogaster"})
    with pytest.raises(cx.errors.ColumnError, match="no transmitter"):
        cx.flow_layers(bare, [1], signed=True)
