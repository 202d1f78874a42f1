"""gnn: cell-type classifiers trained end to end on real connectomes (larva, C. elegans).

Small models and few epochs (speed lives in benchmarks/); every assertion could fail.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome import gnn
from connectome.errors import ColumnError, ConnectomeError
from connectome.gnn.errors import DeviceError, FeatureMismatchError, LabelError, ModelFileError, SplitError
from helpers import ROOT, run_cli, run_python

FAST = {"epochs": 40, "patience": 40, "threads": 1, "progress": False}


@pytest.fixture(scope="module")
def worm():
    """C. elegans Cook 2019 hermaphrodite, neurons only (302)."""
    return cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron")


@pytest.fixture(scope="module")
def larva(larva_store):
    return cx.load(larva_store)


@pytest.fixture(scope="module")
def larva_inputs(larva):
    return gnn.prepare(larva, "merge_class")


@pytest.fixture(scope="module")
def larva_model(larva):
    """PartnerSAGE on larva simple_group, trained once for the module."""
    return gnn.train(larva, "simple_group", "partner_sage", seed=1, **{**FAST, "epochs": 60})


# ---------------------------------------------------------------------------- data
def test_to_data_keeps_unlabelled_nodes_out_of_splits(larva):
    data = gnn.to_data(larva, "merge_class", seed=0)
    nodes = larva.node_table()
    assert data.num_nodes == len(nodes) == 3591
    assert int((data.y < 0).sum()) == int((nodes["merge_class"] == "unk").sum()) == 1614
    assert len(data.label_names) == 60 and "unk" not in data.label_names and "unk-AN" in data.label_names
    assert data.edge_index.shape[1] == data.edge_weight.shape[0]
    # self-loops (577 autapses) are features, not message-passing edges
    assert not bool((data.edge_index[0] == data.edge_index[1]).any())
    assert "autapse_synapses" in data.feature_names
    masks = data.train_mask | data.val_mask | data.test_mask
    assert not bool((masks & (data.y < 0)).any())
    assert int(masks.sum()) == int((data.y >= 0).sum())
    assert not bool((data.train_mask & data.test_mask).any())
    # total chemical synapses between distinct neurons survive the conversion
    e = larva.edge_table()
    assert float(data.edge_weight.sum()) == float(e.loc[e.pre_root_id != e.post_root_id, "synapse_count"].sum())


def test_features_come_from_the_edge_table_only(larva, larva_inputs):
    f = larva_inputs.features
    assert f.x.shape == (3591, len(f.names))
    label_like = {"merge_class", "simple_group", "class1", "class2", "lineage", "io"}
    assert not any(any(lab in n for lab in label_like) for n in f.names)
    e = larva.edge_table()
    pos = np.searchsorted(larva_inputs.ids, e["pre_root_id"].to_numpy())
    out = np.bincount(pos, weights=e["synapse_count"].to_numpy(), minlength=larva_inputs.n_nodes)
    np.testing.assert_allclose(f.x[:, f.names.index("out_synapses")],
                               np.log1p(out - f.x[:, 0] * 0 - np.expm1(f.x[:, f.names.index("autapse_synapses")])),
                               rtol=1e-5)


def test_transmitter_and_gap_junction_features_where_the_store_has_them(worm):
    names = gnn.wiring_features(worm).names
    assert "gap_junction_partners" in names and "gap_junction_synapses" in names
    edges = pd.DataFrame({"pre_root_id": [1, 1, 2, 3], "post_root_id": [2, 3, 3, 1],
                          "synapse_count": [5, 6, 7, 8], "nt_type": ["ACH", "ACH", "GABA", "GLUT"],
                          "neuropil": ["AL_L", "LH_L", "LH_L", "AL_L"]})
    c = cx.from_edges(edges, pd.DataFrame({"root_id": [1, 2, 3]}))
    f = gnn.wiring_features(c)
    row = dict(zip(f.names, np.expm1(f.x[0])))
    assert row["out_synapses_nt_ACH"] == pytest.approx(11)
    assert row["in_synapses_nt_GLUT"] == pytest.approx(8)
    assert row["out_synapses_neuropil_LH_L"] == pytest.approx(6)
    assert "gap_junction_partners" not in f.names
    f5 = gnn.wiring_features(c, gnn.FeatureSpec(min_synapses=7))
    assert np.expm1(f5.x[0, f5.names.index("out_synapses")]) == pytest.approx(0)
    # optional node attributes (positions, volumes): numeric columns only, missing values filled
    c2 = c.with_node_columns(pd.DataFrame({"root_id": [1, 2, 3], "x_nm": [10.0, np.nan, 30.0],
                                           "kind": ["a", "b", "c"]}))
    fa = gnn.wiring_features(c2, gnn.FeatureSpec(node_attributes=("x_nm",)))
    assert fa.names[-1] == "node_x_nm" and fa.x[:, -1].tolist() == [10.0, 20.0, 30.0]
    with pytest.raises(ConnectomeError, match="node_attributes: column 'kind' is not numeric"):
        gnn.wiring_features(c2, gnn.FeatureSpec(node_attributes=("kind",)))


def test_splits_are_seeded_stratified_and_kfold_covers_every_node(larva_inputs):
    y = larva_inputs.y
    a, b, c = (gnn.stratified_split(y, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.test, b.test) and not np.array_equal(a.test, c.test)
    for part in (a.train, a.val, a.test):
        assert (y[part] >= 0).all()
    n_lab = int((y >= 0).sum())
    assert len(a.train) + len(a.val) + len(a.test) == n_lab
    assert abs(len(a.train) / n_lab - 0.70) < 0.05 and abs(len(a.test) / n_lab - 0.15) < 0.05
    counts = np.bincount(y[y >= 0])
    # every class with >= 3 members reaches all three parts
    for cls in np.flatnonzero(counts >= 3):
        assert all((y[p] == cls).any() for p in (a.train, a.val, a.test))
    folds = list(gnn.kfold_splits(y, k=5, seed=0))
    tested = np.concatenate([f.test for f in folds])
    assert len(tested) == n_lab and len(np.unique(tested)) == n_lab
    for f in folds:
        assert not len(np.intersect1d(f.train, np.concatenate([f.val, f.test])))


# ---------------------------------------------------------------------------- no leakage
def test_partner_profiles_never_read_evaluation_labels(larva_inputs):
    g = larva_inputs
    split = gnn.stratified_split(g.y, seed=0)
    known = np.zeros(g.n_nodes, dtype=bool)
    known[split.train] = True
    base = gnn.partner_type_profiles(g.adjacency, g.y, known, g.labels.n_classes)
    rng = np.random.default_rng(0)
    scrambled = g.y.copy()
    others = np.flatnonzero(~known)  # validation, test and unlabelled nodes
    scrambled[others] = rng.integers(0, g.labels.n_classes, len(others))
    np.testing.assert_array_equal(base, gnn.partner_type_profiles(g.adjacency, scrambled, known, g.labels.n_classes))
    # control: changing training labels does change the profiles
    moved = g.y.copy()
    moved[split.train[:50]] = (moved[split.train[:50]] + 1) % g.labels.n_classes
    assert not np.array_equal(base, gnn.partner_type_profiles(g.adjacency, moved, known, g.labels.n_classes))
    # and a node's own label never enters its own profile, even with an autapse
    assert g.adjacency.diagonal().sum() == 0


@pytest.mark.parametrize("reuse", [0, 1])
def test_test_labels_do_not_change_training_or_predictions(larva_inputs, reuse):
    # reuse=1: predictions of test and unlabelled nodes feed back into the profiles, their labels never
    g = larva_inputs
    split = gnn.stratified_split(g.y, seed=3)
    opts = {**FAST, "epochs": 25, "reuse": reuse}
    first = gnn.train(g, model="partner_sage", seed=3, split=split, **opts)
    rng = np.random.default_rng(1)
    y2 = g.y.copy()
    hidden = np.concatenate([split.test, np.flatnonzero(g.y < 0)])
    y2[hidden] = rng.integers(0, g.labels.n_classes, len(hidden))
    g2 = gnn.GraphInputs(g.ids, g.features, g.adjacency, g.gap_junctions, y2, g.labels, g.dataset)
    second = gnn.train(g2, model="partner_sage", seed=3, split=split, **opts)
    np.testing.assert_array_equal(first.probabilities(g), second.probabilities(g2))
    for key in ("n", "accuracy", "balanced_accuracy", "macro_f1"):  # (rare classes are counted on all labels)
        assert first.metrics["val"][key] == second.metrics["val"][key]
    # control: the test metrics see the scrambled labels
    assert second.metrics["test"]["accuracy"] < first.metrics["test"]["accuracy"]


# ---------------------------------------------------------------------------- end to end
def test_train_save_load_predict_write_back(larva, larva_model, tmp_path):
    clf = larva_model
    test = clf.evaluate(split="test")
    assert test.n == len(clf.split_ids["test"]) and test.n > 100
    assert test.macro_f1 > 0.55 and test.accuracy > 0.6  # 17 classes: chance is far below
    assert test.rare_macro_f1 is None or 0 <= test.rare_macro_f1 <= 1
    assert set(test.per_class.columns) >= {"label", "support", "precision", "recall", "f1"}
    assert test.confusion.sum() == test.n

    path = clf.save(tmp_path / "model")
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["model"] == "partner_sage" and cfg["labels"]["column"] == "simple_group"
    assert cfg["features"]["hash"] == clf.features["hash"] and cfg["dataset"]["name"] == larva.name
    again = gnn.load_model(path)
    np.testing.assert_allclose(again.probabilities(larva), clf.probabilities(), atol=1e-6)
    assert again.evaluate(larva, split="test").macro_f1 == pytest.approx(test.macro_f1)

    pred = again.predict(larva, top_k=3)
    assert list(pred.columns) == ["root_id", "predicted", "probability", "top2", "top2_probability",
                                  "top3", "top3_probability", "split"]
    assert len(pred) == 3591 and pred["root_id"].is_unique
    assert (pred["probability"] >= pred["top2_probability"]).all()
    assert set(pred["predicted"]) <= set(clf.labels.classes)
    nodes = larva.node_table().set_index("root_id")
    unk = nodes.loc[pred["root_id"].to_numpy(), "simple_group"].to_numpy() == "unk"
    assert (pred.loc[unk, "split"] == "").all()

    store = tmp_path / "store"
    again.annotate(larva, top_k=2).save(store, progress=False)
    back = cx.load(store).node_table().set_index("root_id")
    assert {"predicted_simple_group", "predicted_simple_group_probability",
            "predicted_simple_group_top2"} <= set(back.columns)
    merged = pred.set_index("root_id")
    assert (back.loc[merged.index, "predicted_simple_group"] == merged["predicted"]).all()

    png = test.plot_confusion(tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("model", ["mlp", "gcn", "sage", "dir_sage"])
def test_every_model_trains_on_celegans(worm, model):
    clf = gnn.train(worm, "super_class", model, seed=0, **FAST)
    assert clf.training["epochs_run"] <= 40 and clf.history
    m = clf.metrics["test"]
    assert m["n"] > 30 and 0 <= m["macro_f1"] <= 1
    assert set(clf.labels.classes) == {"interneuron", "motor", "sensory"}  # 'unknown' is unlabelled


def test_flywire_gnn_inputs_keep_only_its_feature_groups():
    from connectome.gnn.references import flywire_gnn_inputs

    edges = pd.DataFrame({"pre_root_id": [1, 1, 2, 3, 3], "post_root_id": [2, 3, 3, 1, 3],
                          "synapse_count": [5, 6, 7, 8, 2], "nt_type": ["ACH", "ACH", "GABA", "GLUT", "ACH"],
                          "neuropil": ["AL_L", "LH_L", "LH_L", "AL_L", "AL_L"],
                          "cell": ["a", "b", "a", "b", "a"]})
    c = cx.from_edges(edges.drop(columns="cell"), pd.DataFrame({"root_id": [1, 2, 3], "cell": ["a", "b", "a"]}))
    g = gnn.prepare(c, "cell")
    f = flywire_gnn_inputs(g)
    assert "reciprocal_partners" in g.features.names and "max_in_synapses" in g.features.names
    assert f.features.names[:4] == ["out_partners", "in_partners", "out_synapses", "in_synapses"]
    assert f.features.names[4:] == [n for n in g.features.names if "_neuropil_" in n or "_nt_" in n]
    cols = [g.features.names.index(n) for n in f.features.names]
    np.testing.assert_array_equal(f.features.x, g.features.x[:, cols])
    assert f.y is g.y and f.adjacency is g.adjacency


def test_flywire_gnn_itself_runs_on_our_split_without_reading_test_labels(worm):
    """The benchmark's peer: flywire-gnn 0.1.0's own models and train_one on our graph and split."""
    import flywire_gnn.train as fg_train

    from connectome.gnn.references import flywire_gnn_peer

    g = gnn.prepare(worm, "super_class")
    split = gnn.stratified_split(g.y, seed=0)
    pred = flywire_gnn_peer(g, split, "sage", seed=0, epochs=30, threads=1)
    assert pred.shape == (g.n_nodes,) and set(np.unique(pred)) <= set(range(g.labels.n_classes))
    assert fg_train.MODELS["sage"].__name__ == "GraphSAGE"  # the package's registry is restored
    y2 = g.y.copy()
    y2[split.test] = (y2[split.test] + 1) % g.labels.n_classes
    g2 = gnn.GraphInputs(g.ids, g.features, g.adjacency, g.gap_junctions, y2, g.labels, g.dataset)
    np.testing.assert_array_equal(pred, flywire_gnn_peer(g2, split, "sage", seed=0, epochs=30, threads=1))
    with pytest.raises(ConnectomeError, match="flywire-gnn has no model 'gat'"):
        flywire_gnn_peer(g, split, "gat")


def test_side_by_side_benchmark_runs_the_peer_and_reports_paired_differences(tmp_path):
    out = tmp_path / "runs.json"
    r = run_python(str(ROOT / "benchmarks" / "bench_gnn_celltypes.py"), "--tasks", "celegans_super_class",
                   "--seeds", "1", "--methods", "GraphSAGE (flywire-gnn 0.1.0)", "PartnerSAGE (ours)",
                   "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert {row["method"] for row in rows} == {"GraphSAGE (flywire-gnn 0.1.0)", "PartnerSAGE (ours)"}
    assert "| best flywire-gnn baseline: GraphSAGE (flywire-gnn 0.1.0) |" in r.stdout
    again = run_python(str(ROOT / "benchmarks" / "bench_gnn_celltypes.py"), "--report", str(out))
    assert again.returncode == 0 and again.stdout.strip() in r.stdout


def test_same_seed_same_model(worm):
    a = gnn.train(worm, "super_class", "partner_sage", seed=5, **{**FAST, "epochs": 15})
    b = gnn.train(worm, "super_class", "partner_sage", seed=5, **{**FAST, "epochs": 15})
    c = gnn.train(worm, "super_class", "partner_sage", seed=6, **{**FAST, "epochs": 15})
    np.testing.assert_array_equal(a.probabilities(), b.probabilities())
    assert not np.array_equal(a.probabilities(), c.probabilities())


def test_references_run_on_the_same_split(worm):
    from connectome.gnn.references import knn_connectivity, profile_boosting

    g = gnn.prepare(worm, "super_class")
    split = gnn.stratified_split(g.y, seed=0)
    knn = knn_connectivity(g, split)
    gb = profile_boosting(g, split, seed=0, max_iter=20, threads=1)
    for pred in (knn, gb):
        assert pred.shape == (g.n_nodes,)
        acc = gnn.classification_metrics(g.y[split.test], pred[split.test], g.labels.classes).accuracy
        assert acc > 0.5  # three classes
    y2 = g.y.copy()
    y2[split.test] = (y2[split.test] + 1) % g.labels.n_classes
    g2 = gnn.GraphInputs(g.ids, g.features, g.adjacency, g.gap_junctions, y2, g.labels, g.dataset)
    np.testing.assert_array_equal(knn, knn_connectivity(g2, split))


def test_metrics_match_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    for _ in range(50):
        k = int(rng.integers(2, 9))
        yt, yp = rng.integers(0, k, 60), rng.integers(0, k, 60)
        m = gnn.classification_metrics(yt, yp, [f"c{i}" for i in range(k)])
        assert m.macro_f1 == pytest.approx(f1_score(yt, yp, average="macro", zero_division=0))
        assert m.accuracy == pytest.approx(accuracy_score(yt, yp))
        p, r, f, s = precision_recall_fscore_support(yt, yp, zero_division=0, labels=np.unique(np.r_[yt, yp]))
        np.testing.assert_allclose(m.per_class["f1"], f)
        np.testing.assert_array_equal(m.per_class["support"], s)


# ---------------------------------------------------------------------------- bad input
def test_missing_label_column_lists_the_ones_that_exist(worm):
    with pytest.raises(ColumnError, match=r"column 'celltype' not found.*cell_type.*did you mean 'cell_type'"):
        gnn.train(worm, "celltype", **FAST)


def test_single_class_and_too_few_labelled_nodes(worm):
    with pytest.raises(LabelError, match="1 class"):
        gnn.train(worm, "cell_category", **FAST)  # neurons only: one class
    nodes = worm.node_table()[["root_id"]].copy()
    nodes["tiny"] = ["AVA", "AVB", "AVA"] + ["unk"] * (len(nodes) - 3)  # three labelled nodes
    c = worm.with_node_columns(nodes)
    with pytest.raises(SplitError, match="labelled nodes"):
        gnn.train(c, "tiny", **FAST)


def _as_format_1(path, *, drop_reuse=False):
    """Rewrite a saved model's config.json as format 1 wrote it: no model_args (weights are the same tensors)."""
    cfg = json.loads((path / "config.json").read_text())
    cfg["format_version"] = 1
    del cfg["model_args"]
    if drop_reuse:
        assert cfg["train_config"].pop("reuse") == 0  # what a model saved before prediction reuse holds
    (path / "config.json").write_text(json.dumps(cfg))


def test_models_saved_before_prediction_reuse_load_without_it(worm, tmp_path):
    clf = gnn.train(worm, "super_class", "partner_sage", seed=1, reuse=0, **{**FAST, "epochs": 10})
    path = clf.save(tmp_path / "old")
    _as_format_1(path, drop_reuse=True)
    again = gnn.load_model(path)
    assert again.config.reuse == 0 and again.model.reuse == 0
    np.testing.assert_allclose(again.probabilities(worm), clf.probabilities(), atol=1e-6)


def test_models_of_format_1_load_and_the_model_keeps_its_options(worm, tmp_path):
    clf = gnn.train(worm, "super_class", "partner_sage", seed=2, hidden=16, **{**FAST, "epochs": 10})
    path = clf.save(tmp_path / "new")
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["format_version"] == 2
    assert cfg["model_args"] == {"in_features": len(clf.features["names"]), "n_classes": 3, "hidden": 16, "layers": 2,
                                 "dropout": 0.5, "reuse": 2, "label_keep": 1.0, "seed": 2}
    _as_format_1(path)
    again = gnn.load_model(path)
    assert type(again.model).__name__ == "PartnerSAGE" and again.model.reuse == 2
    assert again.model_args == cfg["model_args"]
    np.testing.assert_allclose(again.probabilities(worm), clf.probabilities(), atol=1e-6)
    # weights from another model: refused with the fix named
    other = gnn.train(worm, "super_class", "partner_sage", seed=2, hidden=8, **{**FAST, "epochs": 2})
    other.save(tmp_path / "other")
    (path / "weights.pt").write_bytes((tmp_path / "other" / "weights.pt").read_bytes())
    with pytest.raises(ModelFileError, match="weights do not fit 'partner_sage'.*save the model again"):
        gnn.load_model(path)


def test_partner_sage_reuses_its_profiles_only_while_nothing_changed(worm):
    """The module keeps the input of its reuse rounds; a weight step, new labels or another graph rebuild it."""
    import torch

    from connectome.gnn.models.operators import build_operators
    from connectome.gnn.models.partner_sage import PartnerSAGE

    g = gnn.prepare(worm, "super_class")
    split = gnn.stratified_split(g.y, seed=0)
    x = torch.from_numpy(g.features.x)
    y = torch.full((g.n_nodes,), -1, dtype=torch.long)
    y[split.train] = torch.from_numpy(g.y[split.train])
    ops = build_operators(g.adjacency, PartnerSAGE.operators)
    torch.manual_seed(0)
    net = PartnerSAGE(x.shape[1], g.labels.n_classes, hidden=16).eval()

    def fresh():
        twin = PartnerSAGE(x.shape[1], g.labels.n_classes, hidden=16).eval()
        twin.load_state_dict(net.state_dict())
        return twin(x, ops, y)

    first = net(x, ops, y)
    assert net.inputs(x, ops, y) is net.inputs(x, ops, y)  # kept while nothing changed
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    net.train()
    loss, _ = net.training_step(x, ops, y, torch.from_numpy(split.train))
    torch.nn.functional.cross_entropy(loss[split.train], y[split.train]).backward()
    opt.step()
    net.eval()
    after = net(x, ops, y)
    assert not torch.equal(first, after)
    assert torch.equal(after, fresh())  # the step was seen: the reuse rounds ran again with the new weights
    y[split.train[:20]] = (y[split.train[:20]] + 1) % g.labels.n_classes  # labels changed in place
    assert torch.equal(net(x, ops, y), fresh())
    assert not torch.equal(net(x, ops, None), net(x, ops, y))  # no known labels: profiles of predictions only
    twin = copy.deepcopy(net)  # copies leave the graph's sparse tensors behind and rebuild them
    assert twin.profiles is None and torch.equal(twin(x, ops, y), net(x, ops, y))


def test_model_refuses_a_store_with_other_features(worm, larva, tmp_path):
    clf = gnn.train(worm, "super_class", "mlp", seed=0, **FAST)
    path = clf.save(tmp_path / "m")
    loaded = gnn.load_model(path)
    with pytest.raises(FeatureMismatchError, match="missing 2: gap_junction_partners, gap_junction_synapses"):
        loaded.predict(cx.filter_edges(worm, edge_kind="chemical"))
    with pytest.raises(FeatureMismatchError):
        loaded.predict(larva)
    # the right kind of store works: another C. elegans hermaphrodite dataset with the same edge columns
    other = cx.select(cx.load("celegans_cook2019_herm"), super_class="sensory")
    assert len(loaded.predict(other)) == other.n_nodes
    (path / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        gnn.load_model(path)


def test_cuda_without_cuda_is_a_clear_error(worm):
    import torch

    if torch.cuda.is_available():  # on a GPU machine the same call must work
        clf = gnn.train(worm, "super_class", "partner_sage", device="cuda", **FAST)
        assert clf.training["device"].startswith("cuda")
    else:
        with pytest.raises(DeviceError, match=r"device='cuda' but CUDA is not available.*use device='cpu'"):
            gnn.train(worm, "super_class", device="cuda", **FAST)


def test_too_many_classes_for_dense_profiles_is_refused(worm, monkeypatch):
    from connectome.gnn.models import partner_sage

    monkeypatch.setattr(partner_sage, "MAX_PROFILE_GIB", 1e-4)
    with pytest.raises(ConnectomeError, match="GiB of partner-type profiles.*use model='dir_sage'"):
        gnn.train(worm, "cell_type", "partner_sage", **FAST)
    assert gnn.train(worm, "cell_type", "dir_sage", **{**FAST, "epochs": 2}).labels.n_classes == 118


def test_bad_options_name_the_parameter(worm):
    with pytest.raises(ConnectomeError, match="unknown model 'gat'"):
        gnn.train(worm, "super_class", "gat", **FAST)
    with pytest.raises(ConnectomeError, match=r"unknown training option\(s\) \['hiden'\]"):
        gnn.train(worm, "super_class", hiden=3, **FAST)
    with pytest.raises(ConnectomeError, match="reuse must be an integer from 0 to 5"):
        gnn.train(worm, "super_class", reuse=-1, **FAST)
    with pytest.raises(ConnectomeError, match="reuse > 0 cannot be combined with label_keep < 1"):
        gnn.train(worm, "super_class", reuse=1, label_keep=0.5, **FAST)
    with pytest.raises(SplitError, match="fractions must be"):
        gnn.train(worm, "super_class", fractions=(0.5, 0.5, 0.5), **FAST)


# ---------------------------------------------------------------------------- CLI, example, demo
def test_cli_train_and_predict(tmp_path):
    out = run_cli("--no-progress", "train", "celegans_cook2019_herm", "--label", "super_class",
                  "--where", "cell_category=neuron", "--model", "dir_sage", "--epochs", "30", "--threads", "1",
                  "--out", str(tmp_path / "m"))
    assert out.returncode == 0, out.stderr
    assert "test" in out.stdout and "macro-F1" in out.stdout
    for f in ("config.json", "weights.pt", "arrays.npz", "test_confusion.png", "test_per_class.csv"):
        assert (tmp_path / "m" / f).is_file(), f
    out = run_cli("--no-progress", "predict", str(tmp_path / "m"), "celegans_cook2019_herm",
                  "--where", "cell_category=neuron", "--out", str(tmp_path / "p.csv"),
                  "--write-store", str(tmp_path / "store"))
    assert out.returncode == 0, out.stderr
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 302 and {"predicted", "probability", "top2"} <= set(pred.columns)
    assert "predicted_super_class" in cx.load(tmp_path / "store").label_columns
    bad = run_cli("train", "celegans_cook2019_herm", "--label", "supr_class")
    assert bad.returncode == 2 and bad.stderr.startswith("error: column 'supr_class' not found")
    bad = run_cli("predict", str(tmp_path / "m"), "drosophila_larva_winding2023")
    assert bad.returncode == 2 and "wiring features do not match" in bad.stderr


def test_example_script_trains_predicts_and_writes_back(tmp_path):
    out = run_python(str(ROOT / "examples" / "train_celltypes.py"), str(tmp_path), "--epochs", "30",
                     "--threads", "1", env={"CONNECTOME_PROGRESS": "0"})
    assert out.returncode == 0, out.stderr
    assert "GraphSAGE, flywire-gnn setup" in out.stdout and "macro_f1=" in out.stdout
    assert (tmp_path / "model" / "config.json").is_file() and (tmp_path / "confusion_test.png").is_file()
    assert "predicted_simple_group" in cx.load(tmp_path / "store").label_columns


def test_demo_step_shows_the_model_beside_both_baselines(tmp_path, capsys, monkeypatch):
    import torch

    from connectome.cli import DemoContext
    from connectome.gnn.demo import TASKS, DemoTask, pick_task, step

    # the demo trains on the larva's simple_group where the larva is available, else on C. elegans cell types;
    # never on the demo dataset's super_class, where one seed ranks the models at random
    assert [(t.dataset, t.label) for t in TASKS] == [("drosophila_larva_winding2023", "simple_group"),
                                                    ("celegans_cook2019_herm", "cell_type")]
    from connectome import registry

    entries = registry.dataset_entries()
    monkeypatch.setattr(registry, "dataset_entries",
                        lambda: {k: v for k, v in entries.items() if k != "drosophila_larva_winding2023"})
    assert pick_task() == TASKS[1]
    monkeypatch.undo()

    fast = (DemoTask("celegans_cook2019_herm", "cell_type", "C. elegans neurons", {"cell_category": "neuron"},
                     epochs=5, patience=5),)
    ctx = DemoContext("celegans_cook2019_herm", tmp_path, progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the test machine's cores are shared
    try:
        step(ctx, tasks=fast)
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "GNN cell typing: cell_type of 302 C. elegans neurons (celegans_cook2019_herm; 302 labelled, 118 classes" \
        in printed
    assert "PartnerSAGE (ours)" in printed and "GraphSAGE, flywire-gnn setup" in printed
    assert "always 'VD' (majority class)" in printed  # the majority-class baseline beside both models
    assert "warning: 107 of 118 classes have fewer than 5 labelled members" in printed
    assert (tmp_path / "gnn_test_confusion.png").is_file()
    assert len(pd.read_csv(tmp_path / "gnn_predictions.csv")) == 302


# ---------------------------------------------------------------------------- honest reporting (issue 16)
def _with_small_class(worm, members=3):
    """worm neurons' super_class with ``members`` sensory neurons relabelled 'tiny' (a class too small to score)."""
    nodes = worm.node_table()[["root_id", "super_class"]].copy()
    idx = np.flatnonzero(nodes["super_class"].to_numpy() == "sensory")[:members]
    nodes.loc[nodes.index[idx], "super_class"] = "tiny"
    return worm.with_node_columns(nodes, overwrite=True)


def test_train_warns_about_small_classes_and_reports_the_majority_baseline(worm, caplog):
    c = _with_small_class(worm, members=3)
    with caplog.at_level("WARNING", logger="connectome.gnn.training"):
        clf = gnn.train(c, "super_class", "mlp", seed=0, **{**FAST, "epochs": 3})
    warned = clf.metrics["warnings"]
    assert any(w.startswith("1 of 4 classes has fewer than 5 labelled members: tiny (3)") for w in warned)
    assert all(w in caplog.text for w in warned)  # logged, not only stored
    # the threshold is a parameter: 2 leaves 'tiny' (3 members) alone, 200 names every class
    quiet = gnn.train(c, "super_class", "mlp", seed=0, min_class_size=2, **{**FAST, "epochs": 3})
    assert not any("labelled members" in w for w in quiet.metrics["warnings"])
    loud = gnn.train(c, "super_class", "mlp", seed=0, min_class_size=200, **{**FAST, "epochs": 3})
    assert any(w.startswith("4 of 4 classes have fewer than 200") for w in loud.metrics["warnings"])
    with pytest.raises(ConnectomeError, match="min_class_size must be a non-negative integer"):
        gnn.train(c, "super_class", "mlp", min_class_size=-1, **FAST)
    # a class with no test node: named, and the saved model keeps the warnings
    y = gnn.prepare(c, "super_class").y
    split = gnn.stratified_split(y, seed=0)
    tiny = clf.labels.classes.index("tiny")
    moved = np.flatnonzero(y[split.test] == tiny)
    split = gnn.Split(np.sort(np.r_[split.train, split.test[moved]]), split.val, np.delete(split.test, moved))
    clf = gnn.train(c, "super_class", "mlp", seed=0, split=split, **{**FAST, "epochs": 3})
    assert "1 of 4 classes has no node in the test split: tiny; the test scores say nothing about it" \
        in clf.metrics["warnings"]
    # the majority-class baseline sits beside every score
    test = clf.metrics["test"]
    majority = np.bincount(y[split.train]).argmax()
    assert test["majority_class"] == clf.labels.classes[majority] == clf.majority_class == "motor"
    assert test["majority_accuracy"] == pytest.approx(np.mean(y[split.test] == majority))
    assert "(majority class 'motor': " in str(clf.evaluate(split="test"))


def test_an_accuracy_below_the_majority_baseline_is_a_warning(worm):
    from connectome.gnn.training import _baseline_warning

    # the 773-neuron subgraph: "accuracy 0.922" below always-"central" at 0.940
    test = {"accuracy": 0.922, "majority_class": "central", "majority_accuracy": 0.940, "macro_f1": 0.61,
            "majority_macro_f1": 0.32, "balanced_accuracy": 0.66}
    assert _baseline_warning(test) == (
        "test accuracy 0.922 is not above the majority-class baseline (always 'central': 0.940); judge the model "
        "by macro-F1 (0.610, baseline 0.320) and balanced accuracy (0.660)")
    assert _baseline_warning({**test, "accuracy": 0.95}) is None
    # a trained model: the warning is there exactly when the test accuracy does not beat the baseline
    nodes = worm.node_table()[["root_id", "super_class"]].copy()
    lab = nodes["super_class"].to_numpy()
    nodes["skewed"] = np.where(lab == "interneuron", "interneuron", np.where(lab == "unknown", "unknown", "other"))
    clf = gnn.train(worm.with_node_columns(nodes[["root_id", "skewed"]]), "skewed", "mlp", seed=0, hidden=1, **{**FAST, "epochs": 1})
    m = clf.metrics["test"]
    below = [w for w in clf.metrics["warnings"] if "majority-class baseline" in w]
    assert below == ([_baseline_warning(m)] if m["accuracy"] <= m["majority_accuracy"] else [])


def test_cli_train_prints_warnings_and_baseline_and_predict_scores_test_only(worm, tmp_path):
    store = tmp_path / "worm"
    _with_small_class(worm, members=3).save(store, progress=False)
    out = run_cli("--no-progress", "--log-level", "error", "train", str(store), "--label", "super_class",
                  "--model", "mlp", "--epochs", "3", "--threads", "1", "--out", str(tmp_path / "m"))
    assert out.returncode == 0, out.stderr
    assert "warning: 1 of 4 classes has fewer than 5 labelled members: tiny (3)" in out.stdout
    assert "(always 'motor': " in out.stdout
    out2 = run_cli("--no-progress", "--log-level", "error", "train", str(store), "--label", "super_class",
                   "--model", "mlp", "--epochs", "3", "--threads", "1", "--min-class-size", "2")
    assert out2.returncode == 0 and "fewer than" not in out2.stdout
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["metrics"]["warnings"] and cfg["metrics"]["test"]["majority_class"] == "motor"

    clf = gnn.load_model(tmp_path / "m")
    n = clf.labelled_counts(cx.load(store))
    pred = run_cli("--no-progress", "predict", str(tmp_path / "m"), str(store), "--out", str(tmp_path / "p.csv"))
    assert pred.returncode == 0, pred.stderr
    test = clf.evaluate(cx.load(store), split="test")
    assert f"test split ({n['test']} labelled nodes held out from training and from picking the epoch): {test}" \
        in pred.stdout
    assert f"not scored: {n['val']} validation nodes (they picked the epoch) and {n['train']} training nodes" \
        in pred.stdout
    assert "not used for training" not in pred.stdout and "new nodes" not in pred.stdout


def test_evaluate_unseen_leaves_out_the_validation_split(worm):
    clf = gnn.train(worm, "super_class", "mlp", seed=0, **{**FAST, "epochs": 3})
    n_test = clf.evaluate(split="test").n
    assert clf.evaluate(split="unseen").n == n_test  # validation nodes picked the epoch: never "unseen"
    # nodes in none of the model's splits are "new": drop the model's ids from a copy of the graph's labels
    nodes = worm.node_table()[["root_id", "super_class"]].copy()
    gone = np.isin(nodes["root_id"].to_numpy(), np.r_[clf.split_ids["val"], clf.split_ids["test"]])
    nodes.loc[gone, "super_class"] = "unknown"
    c = worm.with_node_columns(nodes, overwrite=True)
    assert clf.labelled_counts(c) == {"train": len(clf.split_ids["train"]), "val": 0, "test": 0, "new": 0}
    with pytest.raises(ConnectomeError, match="no labelled test nodes"):
        clf.evaluate(c, split="test")
    with pytest.raises(ConnectomeError, match="split must be one of 'train', 'val', 'test', 'unseen', 'new'"):
        clf.evaluate(split="rest")


def test_sparse_tensors_opt_out_of_invariant_checks_explicitly(worm, monkeypatch):
    """torch 2.11 on CUDA warns when a sparse tensor is built while the checks are only implicitly off,
    even with check_invariants=False: gnn sets torch's flag itself around every construction."""
    import warnings

    import scipy.sparse as sp
    import torch

    from connectome.gnn.sparse import SparseAdjacency, csr_tensor

    state = {"explicit": False}
    real_set, real_ctor = torch._C._set_check_sparse_tensor_invariants, torch.sparse_csr_tensor

    def set_flag(value):
        state["explicit"] = value is not None
        return real_set(value)

    def ctor(*args, **kwargs):  # torch 2.11's behaviour, on any machine
        assert kwargs.get("check_invariants") is False, "pass check_invariants explicitly"
        if not state["explicit"]:
            warnings.warn("Sparse invariant checks are implicitly disabled.", UserWarning, stacklevel=2)
        return real_ctor(*args, **kwargs)

    monkeypatch.setattr(torch._C, "_set_check_sparse_tensor_invariants", set_flag)
    monkeypatch.setattr(torch, "sparse_csr_tensor", ctor)
    a = sp.csr_array(np.array([[0, 2.0], [1.0, 0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state["explicit"] = False
        adj = SparseAdjacency.from_scipy(a).to("cpu")
        state["explicit"] = False
        assert csr_tensor(a).to_dense().tolist() == [[0.0, 2.0], [1.0, 0.0]]
        assert (adj @ torch.ones(2, 1)).ravel().tolist() == [2.0, 1.0]
    # and without the stand-in: no warning of torch's own, with torch's warn-once turned into warn-always
    monkeypatch.undo()
    always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's beta-feature notes come back too under warn-always
            warnings.filterwarnings("error", message=".*[Ss]parse invariant checks")
            clf = gnn.train(worm, "super_class", "sage", seed=0, **{**FAST, "epochs": 2})
            clf.predict(worm)
    finally:
        torch.set_warn_always(always)
