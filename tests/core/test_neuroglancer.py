"""Neuroglancer states, links, the state store and the result helpers (no browser; see test_browser_*)."""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import ColumnError, ConnectomeError, IdError, InputError, SourceNotFoundError

ng = cx.neuroglancer
BIG = [2**63 - 5, 720575940621039145, 2**53 + 1]  # ids JSON numbers would round (the largest: int64's top)


@pytest.fixture()
def store(tmp_path):
    return ng.StateStore(tmp_path / "states", base_url="http://127.0.0.1:8000/v1/states")


@pytest.fixture()
def fly():
    """A small FlyWire-like connectome: real-looking ids above 2**53, labels, positions, synapses."""
    nodes = pd.DataFrame({
        "root_id": np.array(BIG + [11, 12], dtype="uint64"),
        "cell_type": ["KC", "KC", "MBON", "DAN", None],
        "super_class": ["central"] * 5,
        "x_nm": [400.0, 800.0, 1200.0, 1600.0, 2000.0],
        "y_nm": [40.0, 80.0, 120.0, 160.0, 200.0],
        "z_nm": [400.0, 800.0, 1200.0, 1600.0, 2000.0],
    })
    a, b, c = BIG
    edges = pd.DataFrame({"pre_root_id": np.array([a, b, a, 11], dtype="uint64"),
                          "post_root_id": np.array([b, c, c, 12], dtype="uint64"),
                          "synapse_count": [12, 7, 5, 9]})
    syn = pd.DataFrame({"pre_root_id": np.array([a, a, b, 11], dtype="uint64"),
                        "post_root_id": np.array([b, b, a, 12], dtype="uint64"),
                        "x_nm": [8.0, 12.0, 16.0, 20.0], "y_nm": [4.0, 8.0, 12.0, 16.0],
                        "z_nm": [80.0, 120.0, 160.0, 200.0]})
    return cx.from_edges(edges, nodes, synapses=syn, name="flywire_toy",
                         manifest={"source": {"kind": "cave", "datastack": "flywire_fafb_public"},
                                   "version": {"materialization": 783}})


def seg_layers(state):
    return [layer for layer in state["layers"] if layer["type"] == "segmentation"]


def no_unsafe_ints(text: str) -> bool:
    """True if no bare JSON number in ``text`` is an integer above 2**53."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    return all(int(m) <= 2**53 for m in re.findall(r"(?<![\d.eE+-])\d{16,}(?![\d.eE])", bare))


# ---------------------------------------------------------------------- states
def test_ids_above_2_53_are_exact_strings(fly, store):
    state = ng.build_state(fly, BIG, color_by="cell_type", synapses=True, store=store)
    text = json.dumps(state)
    assert no_unsafe_ints(text)
    seg = seg_layers(state)[0]
    assert seg["segments"] == [str(i) for i in sorted(BIG)]
    assert set(seg["segmentColors"]) == {str(i) for i in BIG}
    syn = [layer for layer in state["layers"] if layer["name"] == "synapses"][0]
    assert syn["annotations"][0]["segments"] == [[str(BIG[0]), str(BIG[1])]]
    # and the link round-trips them exactly
    url = ng.state_link(state, store=store, max_length=10**6)
    assert seg_layers(ng.parse_link(url).state)[0]["segments"] == [str(i) for i in sorted(BIG)]


def test_dataset_sources_and_resolution_from_manifest(fly, store):
    state = ng.build_state(fly, BIG[:1], properties=False)
    names = {layer["name"]: layer for layer in state["layers"]}
    assert names["em"]["source"][0]["url"] == "precomputed://https://bossdb-open-data.s3.amazonaws.com/flywire/fafbv14"
    assert names["flywire"]["source"][0]["url"] == "precomputed://gs://flywire_v141_m783"
    assert state["dimensions"] == {"x": [4e-09, "m"], "y": [4e-09, "m"], "z": [4e-08, "m"]}
    # MICrONS by datastack, static segmentation of the store's materialization, the manifest's resolution
    m = cx.from_edges(pd.DataFrame({"pre_root_id": [1], "post_root_id": [2], "synapse_count": [3]}),
                      name="minnie_sample", manifest={"version": {"datastack": "minnie65_public",
                                                                  "materialization": 943},
                                                      "voxel_resolution_nm": [8, 8, 40]})
    s2 = ng.build_state(m, [1, 2], properties=False)
    assert seg_layers(s2)[0]["source"][0]["url"] == "precomputed://gs://iarpa_microns/minnie/minnie65/seg_m943"
    assert s2["dimensions"]["x"] == [8e-09, "m"]


def test_local_precomputed_volume(shared_data):
    cutout = shared_data / "segmentation_pinky40_cutout" / "precomputed_256cube"
    state = ng.build_state(None, [26386514], dataset=cutout, colors="red")
    seg = seg_layers(state)[0]
    assert seg["source"][0]["url"] == "precomputed://" + cutout.resolve().as_uri()
    assert seg["segmentColors"] == {"26386514": "#ff0000"}
    assert state["dimensions"]["z"] == [4e-08, "m"] and state["position"] == [128.0, 128.0, 128.0]


def test_positions_convert_nm_to_voxels(fly, store):
    state = ng.build_state(fly, BIG, synapses=True, lines=pd.DataFrame({"pre_root_id": [BIG[0]],
                                                                        "post_root_id": [BIG[1]]}), store=store)
    layers = {layer["name"]: layer for layer in state["layers"]}
    pts = [a["point"] for a in layers["synapses"]["annotations"]]
    assert pts == [[2.0, 1.0, 2.0], [3.0, 2.0, 3.0], [4.0, 3.0, 4.0]]  # (x, y, z) nm / (4, 4, 40)
    line = layers["lines"]["annotations"][0]
    assert line["pointA"] == [100.0, 10.0, 10.0] and line["pointB"] == [200.0, 20.0, 20.0]
    assert layers["synapses"]["source"][0]["transform"]["outputDimensions"]["x"] == [4e-09, "m"]
    assert state["position"] == pytest.approx([200.0, 20.0, 20.0])  # mean of the neurons' positions


def test_colours_by_label_map_and_errors(fly, store):
    state = ng.build_state(fly, BIG, color_by="cell_type", colors={"KC": "red", "MBON": "#00f"}, store=store)
    assert seg_layers(state)[0]["segmentColors"] == {str(BIG[0]): "#ff0000", str(BIG[1]): "#ff0000",
                                                     str(BIG[2]): "#0000ff"}
    with pytest.raises(InputError, match=r"colors: no colour for label\(s\) 'MBON'.*default_color") as e:
        ng.build_state(fly, BIG, color_by="cell_type", colors={"KC": "red"}, store=store)
    assert e.value.parameter == "colors"
    filled = ng.build_state(fly, BIG, color_by="cell_type", colors={"KC": "red"}, default_color="white",
                            properties=False)
    assert seg_layers(filled)[0]["segmentColors"][str(BIG[2])] == "#ffffff"
    with pytest.raises(InputError, match=r"colors: no colour for root id\(s\) " + str(BIG[2])):
        ng.build_state(fly, BIG, colors={BIG[0]: "red", str(BIG[1]): "blue"}, properties=False)
    with pytest.raises(InputError, match="'reddish' is not a colour"):
        ng.build_state(fly, BIG, colors="reddish", properties=False)
    with pytest.raises(ColumnError, match="column 'cel_type' not found.*did you mean 'cell_type'"):
        ng.build_state(fly, BIG, color_by="cel_type", properties=False)


def test_unknown_segment_ids_are_named(fly):
    with pytest.raises(IdError) as e:
        ng.build_state(fly, [BIG[0], 999, 2**63 - 1], properties=False)
    msg = str(e.value)
    assert "2 id(s) not in flywire_toy: 999, 9223372036854775807" in msg and e.value.parameter == "root_ids"
    with pytest.raises(IdError, match="matches: 1 id\\(s\\) not in flywire_toy: 5"):
        ng.motif_link(fly, pd.DataFrame({"A": [BIG[0]], "B": [5]}, dtype="uint64"), properties=False)
    with pytest.raises(IdError, match="predictions: 1 id\\(s\\) not in flywire_toy: 7"):
        ng.prediction_link(fly, pd.DataFrame({"root_id": [7], "predicted": ["KC"]}))
    with pytest.raises(InputError, match="root_ids: no ids given"):
        ng.build_state(fly, [], properties=False)


def test_segment_properties_file(fly, store):
    state = ng.build_state(fly, BIG, color_by="cell_type", store=store)
    urls = [s["url"] for s in seg_layers(state)[0]["source"]]
    assert urls[1].startswith("precomputed://http://127.0.0.1:8000/v1/states/segment_properties/")
    pid = urls[1].rsplit("/", 1)[-1]
    info = json.loads(store.read_properties(pid))
    inline = info["inline"]
    assert info["@type"] == "neuroglancer_segment_properties"
    assert inline["ids"] == [str(i) for i in sorted(BIG)]
    props = {p["id"]: p for p in inline["properties"]}
    assert props["label"]["values"] == ["MBON", "KC", "KC"]  # sorted ids: 2**53+1, 7205..., 2**63-5
    assert props["tags"]["tags"] == ["KC", "MBON"] and props["tags"]["values"] == [[1], [0], [0]]
    assert props["super_class"]["type"] == "string"


# ---------------------------------------------------------------------- links and the state store
def test_long_states_are_stored_content_addressed(fly, store):
    demo = "neuroglancer-demo"  # mainline Neuroglancer: a stored state is given as the fragment
    short = ng.link(fly, BIG[:1], properties=False, store=store, prefix=demo)
    assert short.startswith("https://neuroglancer-demo.appspot.com/#!%7B") and len(short) <= 8000
    assert not store.folder.exists()  # nothing stored for a short link
    url = ng.link(fly, BIG, synapses=True, color_by="cell_type", store=store, max_length=500, prefix=demo)
    assert url.startswith("https://neuroglancer-demo.appspot.com/#!http://127.0.0.1:8000/v1/states/")
    sid = url.rsplit("/", 1)[-1]
    raw = (store.folder / f"{sid}.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == sid  # the id is the hash of the stored bytes
    assert ng.link(fly, BIG, synapses=True, color_by="cell_type", store=store, max_length=500, prefix=demo) == url
    assert ng.resolve_link(url, store=store) == json.loads(raw)
    # json_url style: the flywire viewer, and any custom prefix
    fw = ng.link(fly, BIG, store=store, max_length=0, prefix="flywire", properties=False)
    assert fw.startswith("https://ngl.flywire.ai/?json_url=http://127.0.0.1:8000/v1/states/")
    custom = ng.link(fly, BIG, store=store, max_length=0, prefix="https://viewer.example.org/ng",
                     properties=False)
    assert custom.startswith("https://viewer.example.org/ng/?json_url=http://127.0.0.1:8000/v1/states/")
    assert ng.parse_link(custom).state_url == store.url(custom.rsplit("/", 1)[-1])


def test_default_limit_is_8000_characters(fly, store):
    many = pd.DataFrame({"pre_root_id": [BIG[0]] * 150, "post_root_id": [BIG[1]] * 150,
                         "x_nm": np.arange(150.0), "y_nm": 1.0, "z_nm": 40.0})
    state = ng.build_state(fly, BIG, synapses=many, properties=False)
    inline = ng.state_link(state, store=store, max_length=10**7)
    assert len(inline) > 8000
    assert "/v1/states/" in ng.state_link(state, store=store)


def test_env_configures_store_and_server(fly, tmp_path, monkeypatch):
    monkeypatch.setenv("CONNECTOME_STATES", str(tmp_path / "env-states"))
    monkeypatch.setenv("CONNECTOME_STATE_SERVER", "https://api.example.org/v1/states/")
    monkeypatch.setenv("CONNECTOME_VIEWER", "spelunker")
    url = ng.link(fly, BIG, max_length=0, properties=False)
    assert url.startswith("https://spelunker.cave-explorer.org/#!https://api.example.org/v1/states/")
    sid = url.rsplit("/", 1)[-1]
    assert (tmp_path / "env-states" / f"{sid}.json").is_file()
    assert ng.load_state(sid)["layers"] and ng.state_bytes(sid).startswith(b"{")


@pytest.mark.parametrize("prefix", ["not a url", "ftp://host/ng", "neuroglancer", "https://h/#!{}",
                                    "https://h/?json_url=x", "//host/ng"])
def test_bad_prefix(fly, prefix):
    with pytest.raises(InputError) as e:
        ng.link(fly, BIG, prefix=prefix, properties=False)
    assert e.value.parameter == "prefix" and "prefix:" in str(e.value)


def test_state_store_errors(store):
    with pytest.raises(ng.StateNotFoundError) as e:
        store.get("0" * 64)
    assert isinstance(e.value, SourceNotFoundError) and isinstance(e.value, ConnectomeError)
    for bad in ["../../etc/passwd", "abc", "G" * 64]:
        with pytest.raises(InputError, match="is not a state id"):
            store.get(bad)
    with pytest.raises(InputError, match="not JSON-serialisable"):
        store.put({"x": {1, 2}})
    with pytest.raises(InputError, match="is not an http"):
        ng.StateStore(store.folder, base_url="127.0.0.1:8000")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url) as r:
            return r.status
    except urllib.error.HTTPError as e:
        e.close()
        return e.code


def test_file_server_routes(store, shared_data):
    sid = store.put({"layers": []})
    pid = store.put_properties({"@type": "neuroglancer_segment_properties", "inline": {"ids": [], "properties": []}})
    with ng.FileServer(store) as files:
        base = files.base_url
        for path in (f"/v1/states/{sid}", f"/states/{sid}"):
            with urllib.request.urlopen(base + path) as r:
                assert json.loads(r.read()) == {"layers": []}
                assert r.headers["Access-Control-Allow-Origin"] == "*"
        with urllib.request.urlopen(f"{base}/v1/states/segment_properties/{pid}/info") as r:
            assert json.loads(r.read())["@type"] == "neuroglancer_segment_properties"
        for missing in (f"/v1/states/{'1' * 64}", "/v1/states/../x", "/volumes/none/info", "/elsewhere"):
            assert http_status(base + missing) == 404
        req = urllib.request.Request(f"{base}/v1/states/{sid}", method="OPTIONS")
        with urllib.request.urlopen(req) as r:
            assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == "*"
        cutout = shared_data / "segmentation_pinky40_cutout" / "precomputed_256cube"
        src = files.add_volume(cutout)
        assert src == f"precomputed://{base}/volumes/precomputed_256cube"
        assert files.add_volume(cutout) == src
        vol = src.removeprefix("precomputed://")
        with urllib.request.urlopen(vol + "/info") as r:
            assert json.loads(r.read())["type"] == "segmentation"
        raw = (cutout / "32_32_40" / "0-64_0-64_0-64.gz").read_bytes()
        with urllib.request.urlopen(vol + "/32_32_40/0-64_0-64_0-64") as r:  # urllib does not decode gzip
            assert r.headers["Content-Encoding"] == "gzip" and r.read() == raw
        req = urllib.request.Request(vol + "/info", headers={"Range": "bytes=0-9"})
        with urllib.request.urlopen(req) as r:
            assert r.status == 206 and len(r.read()) == 10
        assert http_status(vol + "/../../../../etc/passwd") == 404
        assert http_status(vol + "/%2e%2e/%2e%2e/%2e%2e/etc/passwd") == 404


# ---------------------------------------------------------------------- result helpers
def test_motif_link_one_layer_per_match_with_role_colours_and_lines(fly, store):
    a, b, c = BIG
    matches = pd.DataFrame({"A": [a, 11], "B": [b, 12], "C": [c, a], "score": [0.9, 0.1]})
    matches = matches.astype({"A": "uint64", "B": "uint64", "C": "uint64"})
    url = ng.motif_link(fly, matches, top_k=2, colors={"A": "red", "B": "green", "C": "blue"}, store=store,
                        max_length=10**6)
    state = ng.parse_link(url).state
    layers = {layer["name"]: layer for layer in state["layers"]}
    assert [n for n in layers if n.startswith("match")] == ["match 0", "match 1"]
    assert layers["match 0"]["segmentColors"] == {str(a): "#ff0000", str(b): "#008000", str(c): "#0000ff"}
    assert layers["match 1"]["segmentColors"] == {"11": "#ff0000", "12": "#008000", str(a): "#0000ff"}
    descs = sorted(x["description"] for x in layers["motif edges"]["annotations"])
    assert descs == ["match 0: A -> B (12 synapses)", "match 0: A -> C (5 synapses)",
                     "match 0: B -> C (7 synapses)", "match 1: A -> B (9 synapses)"]
    links = ng.motif_links(fly, matches, colors=["red", "green", "blue"], store=store)
    assert list(links.index) == [0, 1] and links.iloc[0] != links.iloc[1]
    with pytest.raises(InputError, match=r"colors: no colour for label\(s\) 'C'"):
        ng.motif_link(fly, matches, colors={"A": "red", "B": "green"}, store=store)
    with pytest.raises(InputError, match="no id columns"):
        ng.motif_link(fly, pd.DataFrame({"A": ["x"]}), store=store)


def test_prediction_link_colours_by_prediction_and_shows_disagreements(fly, store):
    pred = pd.DataFrame({"root_id": np.array(BIG, dtype="uint64"), "predicted": ["KC", "MBON", "MBON"],
                         "probability": [0.9, 0.6, 0.8]})
    url = ng.prediction_link(fly, pred, truth="cell_type", colors={"KC": "red", "MBON": "blue"}, store=store,
                             max_length=10**6)
    state = ng.parse_link(url).state
    layers = {layer["name"]: layer for layer in state["layers"]}
    assert layers["predicted"]["segments"] == [str(i) for i in sorted(BIG)]
    assert layers["predicted"]["segmentColors"][str(BIG[1])] == "#0000ff"  # predicted MBON, truly KC
    assert layers["disagreements"]["segments"] == [str(BIG[1])]
    pid = layers["predicted"]["source"][1]["url"].rsplit("/", 1)[-1]
    props = {p["id"]: p for p in json.loads(store.read_properties(pid))["inline"]["properties"]}
    assert props["predicted"]["values"] == ["MBON", "MBON", "KC"] and props["cell_type"]["values"] == ["MBON", "KC", "KC"]
    assert props["probability"]["type"] == "number"
    only = ng.parse_link(ng.prediction_link(fly, pred, truth="cell_type", only_disagreements=True, store=store,
                                            max_length=10**6)).state
    assert [layer["name"] for layer in seg_layers(only)] == ["disagreements"]
    sure = ng.parse_link(ng.prediction_link(fly, pred, min_probability=0.75, store=store,
                                            max_length=10**6)).state
    assert seg_layers(sure)[0]["segments"] == [str(BIG[2]), str(BIG[0])]  # 0.9 and 0.8 kept, 0.6 dropped
    with pytest.raises(InputError, match=r"colors: no colour for label\(s\) 'MBON'"):
        ng.prediction_link(fly, pred, colors={"KC": "red"}, store=store)
    with pytest.raises(ColumnError, match="column 'predicted' not found in predictions"):
        ng.prediction_link(fly, pred.rename(columns={"predicted": "label"}), store=store)


def test_pair_link_synapses_as_points(fly, store, caplog):
    a, b = BIG[0], BIG[1]
    state = ng.parse_link(ng.pair_link(fly, a, str(b), store=store, max_length=10**6)).state
    layers = {layer["name"]: layer for layer in state["layers"]}
    assert len(layers[f"synapses {a} -> {b}"]["annotations"]) == 2
    assert len(layers[f"synapses {b} -> {a}"]["annotations"]) == 1
    assert layers[f"synapses {a} -> {b}"]["annotationColor"] == "#1f77b4"
    assert layers["pair"]["segmentColors"] == {str(a): "#1f77b4", str(b): "#ff7f0e"}
    bare = cx.from_edges(pd.DataFrame({"pre_root_id": [1], "post_root_id": [2], "synapse_count": [3]}),
                         name="flywire_bare", manifest={"source": {"kind": "flywire-codex"},
                                                        "version": {"materialization": 783}})
    url = ng.pair_link(bare, 1, 2, properties=False)
    assert "no synapse table" in caplog.text and "%221%22" in url
    with pytest.raises(InputError, match="synapses: flywire_bare has no synapse table"):
        ng.pair_link(bare, 1, 2, synapses=True)


def test_dataset_without_volume_says_how_to_fix():
    c = cx.load("celegans_cook2019_herm")
    with pytest.raises(InputError, match="no image or segmentation volume is known for 'celegans_cook2019_herm'; "
                                         "pass dataset="):
        ng.link(c, cx.ids_of(c, cell_type="AVA"))


# ---------------------------------------------------------------------- issue 16: links that show what they claim
def edges3(base=0):
    """Three neurons; ``base`` puts their ids in a volume's namespace (its leading digits)."""
    return pd.DataFrame({"pre_root_id": [base + 1, base + 2], "post_root_id": [base + 2, base + 3],
                         "synapse_count": [3, 4]})


def id_base(name):
    """The first id of ``name``'s root-id namespace (0 for a volume that records none)."""
    prefix = ng.KNOWN_DATASETS[name].id_prefix
    return int(prefix.ljust(18, "0")) if prefix else 0


def urls_of(state):
    return {layer["name"]: layer["source"][0]["url"] for layer in state["layers"]}


@pytest.mark.parametrize("manifest,name,image,seg", [
    # a pinky100 export ingested with the MICrONS conventions: pinky100's volumes, not minnie65's
    ({"source": {"kind": "cave-release", "datastack": "pinky100", "preset": "microns"},
      "version": {"materialization": "185"}, "title": "MICrONS mouse visual cortex (minnie65)"},
     "pinky100", "precomputed://gs://microns_public_datasets/pinky100_v0/son_of_alignment_v15_rechunked",
     "precomputed://gs://microns_public_datasets/pinky100_v185/seg"),
    ({"source": {"datastack": "minnie65_public_v343"}},
     "microns", "precomputed://https://bossdb-open-data.s3.amazonaws.com/iarpa_microns/minnie/minnie65/em",
     "precomputed://gs://iarpa_microns/minnie/minnie65/seg_m343"),
    ({"source": {"kind": "neuprint", "dataset": "hemibrain:v1.1"}},
     "hemibrain", "precomputed://gs://neuroglancer-janelia-flyem-hemibrain/emdata/clahe_yz/jpeg",
     "precomputed://gs://neuroglancer-janelia-flyem-hemibrain/v1.1/segmentation"),
    ({"source": {"kind": "neuprint", "dataset": "manc:v1.2.1"}},
     "manc", "precomputed://gs://flyem-vnc-2-26-213dba213ef26e094c16c860ae7f4be0/v3_emdata_clahe_xy/jpeg",
     "precomputed://gs://manc-seg-v1p2/manc-seg-v1.2"),
    ({"source": {"kind": "flywire-codex"}, "version": {"materialization": "630"}},
     "flywire", "precomputed://https://bossdb-open-data.s3.amazonaws.com/flywire/fafbv14",
     "precomputed://gs://flywire_v141_m630"),
], ids=["pinky100", "minnie65_v343", "hemibrain", "manc", "flywire_630"])
def test_the_manifests_datastack_and_version_pick_the_volume(manifest, name, image, seg):
    base = id_base(name)
    c = cx.from_edges(edges3(base), name="minnie65_flywire_lookalike", manifest=manifest)  # the name does not count
    with ng.collect_warnings() as found:
        state = ng.build_state(c, [base + 1, base + 2], properties=False)
    assert urls_of(state) == {"em": image, name: seg}
    assert found == []
    res = ng.KNOWN_DATASETS[name].resolution_nm
    assert state["dimensions"]["x"][0] == pytest.approx(res[0] * 1e-9)
    assert state["dimensions"]["z"][0] == pytest.approx(res[2] * 1e-9)


def test_the_table_of_known_datasets_is_complete():
    for key, src in ng.KNOWN_DATASETS.items():
        assert src.name == key and src.image and src.segmentation and src.viewer and src.datastacks
        assert len(src.resolution_nm) == 3 and all(r > 0 for r in src.resolution_nm)
        assert src.segmentation in dict(src.versions).values()  # the default is one of the cited releases
    # pinky100's released tables and volumes use 4 x 4 x 40 nm voxels (imaged at 3.58 nm; see sources.py)
    assert ng.KNOWN_DATASETS["pinky100"].resolution_nm == (4.0, 4.0, 40.0)
    assert ng.KNOWN_DATASETS["hemibrain"].resolution_nm == (8.0, 8.0, 8.0)
    assert ng.known_dataset("minnie65_public") == ("microns", None)
    assert ng.known_dataset("flywire_fafb_production") == ("flywire", None)


def test_a_version_without_static_segmentation_warns_loudly(caplog):
    base = id_base("microns")
    c = cx.from_edges(edges3(base), name="minnie_v661", manifest={"source": {"datastack": "minnie65_public"},
                                                                  "version": {"materialization": 661}})
    with ng.collect_warnings() as found:
        state = ng.build_state(c, [base + 1], properties=False)
    assert urls_of(state)["microns"] == "precomputed://gs://iarpa_microns/minnie/minnie65/seg_m1300"
    assert len(found) == 1
    msg = found[0]
    assert "minnie_v661 is microns version 661, which has no public static segmentation" in msg
    assert "known: 343, 943, 1300" in msg and "dataset= (CLI: --source)" in msg
    assert msg in caplog.text  # logged too: on stderr when logging is not configured
    # no version recorded: the latest public segmentation, said out loud
    bare = cx.from_edges(edges3(base), name="minnie_nover", manifest={"source": {"datastack": "minnie65_public"}})
    with ng.collect_warnings() as found:
        ng.build_state(bare, [base + 1], properties=False)
    assert len(found) == 1 and "records no materialization version" in found[0] and "seg_m1300" in found[0]


def test_an_unknown_datastack_is_refused_not_guessed():
    c = cx.from_edges(edges3(), name="fanc_sample", manifest={"source": {"datastack": "fanc_production_mar2021"},
                                                              "version": {"materialization": 1}})
    with pytest.raises(InputError) as e:
        ng.link(c, [1, 2])
    msg = str(e.value)
    assert e.value.parameter == "dataset"
    assert "datastack 'fanc_production_mar2021'" in msg and "dataset= (CLI: --source)" in msg
    # the way out works
    url = ng.link(c, [1, 2], dataset="precomputed://gs://bucket/fanc_seg", properties=False)
    assert "gs://bucket/fanc_seg" in urllib.parse.unquote(url)


def test_flywire_is_recognised_by_its_manifest_and_opens_in_flywires_viewer(fly, store, monkeypatch):
    monkeypatch.delenv("CONNECTOME_VIEWER", raising=False)
    # a store named "flywire..." without a FlyWire datastack is not taken for FlyWire ...
    lookalike = cx.from_edges(edges3(), name="flywire_lookalike")
    with pytest.raises(InputError, match="no image or segmentation volume is known for 'flywire_lookalike'.*"
                                         "--source"):
        ng.link(lookalike, [1])
    # ... and a FlyWire store with any name is, from its source and datastack
    codex = cx.from_edges(edges3(), name="my_subgraph", manifest={"source": {"kind": "flywire-codex"},
                                                                  "version": {"materialization": 783}})
    assert ng.link(codex, [1, 2], properties=False).startswith("https://ngl.flywire.ai/#!")
    assert ng.link(fly, BIG, store=store, properties=False).startswith("https://ngl.flywire.ai/#!")
    stored = ng.link(fly, BIG, store=store, properties=False, max_length=0)
    assert stored.startswith("https://ngl.flywire.ai/?json_url=http://127.0.0.1:8000/v1/states/")
    # prefix= and CONNECTOME_VIEWER still choose
    assert ng.link(fly, BIG, store=store, properties=False, prefix="neuroglancer-demo").startswith(
        "https://neuroglancer-demo.appspot.com/#!")
    matches = pd.DataFrame({"A": [BIG[0]], "B": [BIG[1]]}, dtype="uint64")
    assert ng.motif_link(fly, matches, store=store, properties=False).startswith("https://ngl.flywire.ai/#!")
    monkeypatch.setenv("CONNECTOME_VIEWER", "spelunker")
    assert ng.pair_link(fly, BIG[0], BIG[1], store=store, properties=False).startswith(
        "https://spelunker.cave-explorer.org/#!")
    # other datasets keep mainline Neuroglancer
    monkeypatch.delenv("CONNECTOME_VIEWER")
    hemi = cx.from_edges(edges3(), name="h", manifest={"source": {"kind": "neuprint", "dataset": "hemibrain:v1.2"}})
    assert ng.link(hemi, [1], properties=False).startswith("https://neuroglancer-demo.appspot.com/#!")


def test_links_that_need_a_server_on_this_machine_say_so(fly, store, tmp_path, monkeypatch):
    # inline, no labels: nothing is loaded from the state server, no warning
    with ng.collect_warnings() as found:
        ng.link(fly, BIG, store=store, properties=False)
    assert found == []
    # stored state on 127.0.0.1: a warning, once per block, naming the way out
    with ng.collect_warnings() as found:
        ng.link(fly, BIG, store=store, properties=False, max_length=0)
        ng.motif_links(fly, pd.DataFrame({"A": [BIG[0], BIG[1]], "B": [BIG[1], BIG[2]]}, dtype="uint64"),
                       store=store, properties=False, max_length=0)
    assert len(found) == 1
    msg = found[0]
    assert msg.startswith("link: this link loads its state from http://127.0.0.1:8000, a loopback address")
    assert "only on this machine" in msg and "connectome serve" in msg
    assert "CONNECTOME_STATE_SERVER" in msg and "--public-url" in msg
    # segment labels from 127.0.0.1 (an inline link): the same warning, about the labels
    with ng.collect_warnings() as found:
        ng.link(fly, BIG, store=store, color_by="cell_type")
    assert len(found) == 1 and "loads its segment labels from http://127.0.0.1:8000" in found[0]
    # a state server others reach: no warning
    shared = ng.StateStore(tmp_path / "shared", base_url="https://connectome.lab.example.org/v1/states")
    with ng.collect_warnings() as found:
        url = ng.link(fly, BIG, store=shared, color_by="cell_type", max_length=0)
    assert found == [] and "?json_url=https://connectome.lab.example.org/v1/states/" in url
    monkeypatch.setenv("CONNECTOME_STATES", str(tmp_path / "env"))
    monkeypatch.setenv("CONNECTOME_STATE_SERVER", "https://connectome.lab.example.org/v1/states")
    with ng.collect_warnings() as found:
        ng.link(fly, BIG, color_by="cell_type", max_length=0)
    assert found == []


def test_color_by_without_values_warns_and_names_the_columns_that_have_them(fly, store, caplog):
    # neuron 12 has no cell_type; its super_class is known
    with ng.collect_warnings() as found:
        state = ng.build_state(fly, [12], color_by="cell_type", store=store)
    assert seg_layers(state)[0]["segmentColors"] == {"12": "#808080"}
    # 12 alone is no FlyWire id: said (the link shows nothing), besides the colour
    assert found.pop().startswith("root_ids: none of the 1 root ids (e.g. 12) is an id of flywire (7205759...)")
    assert found == ["color_by: the selected neuron has no value in 'cell_type', so it is drawn in grey (#808080); "
                     "columns with values for them: super_class (1 of 1); colour by one of those with color_by= "
                     "(CLI: --color-by)"]
    assert found[0] in caplog.text
    nodes = fly.node_table()
    primary = {BIG[0]: "oviIN", BIG[1]: None}  # one of the two has a primary_type
    nodes = nodes.assign(cell_type=None, primary_type=[primary.get(int(i), "x") for i in nodes["root_id"]])
    two = cx.from_edges(fly.edge_table(), nodes, name="flywire_toy2",
                        manifest={"source": {"datastack": "flywire_fafb_public"}, "version": {"materialization": 783}})
    with ng.collect_warnings() as found:
        ng.build_state(two, BIG[:2], color_by="cell_type", default_color="white", store=store)
    assert len(found) == 1
    assert "none of the 2 selected neurons has a value in 'cell_type', so all are drawn in default_color 'white'" \
        in found[0]
    assert "primary_type (1 of 2), super_class (2 of 2)" not in found[0]  # sorted by coverage
    assert "super_class (2 of 2), primary_type (1 of 2)" in found[0]
    # some neurons labelled: colours are informative, no warning
    with ng.collect_warnings() as found:
        ng.build_state(fly, [BIG[1], 12], color_by="cell_type", store=store)
    assert found == []
