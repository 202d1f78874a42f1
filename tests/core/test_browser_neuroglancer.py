"""Neuroglancer states drawn by a real headless Chromium over the real EM cutout.

(a) the local viewer (``cx.neuroglancer.open``) over ``segmentation_pinky40_cutout``
    with a chosen set of segments coloured;
(b) a motif-match link whose state is too long for a URL: stored in the state
    store, served by a loopback server, loaded by the browser from its URL.

Each page is screenshotted after the viewer reports it has drawn; the pixels of
the cross-section are compared with the segmentation itself: every chosen
segment appears in its colour where the volume has it (IoU), and nothing else is
drawn where unselected segments are. Screenshots are kept in
``test-artifacts/browser/`` (or ``$CONNECTOME_TEST_ARTIFACTS/browser``).
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from helpers import ROOT

ng = cx.neuroglancer
Z = 0  # the cross-section shown: voxel slice z = 0 (position z = 0.5)
RES = (32.0, 32.0, 40.0)
VIEW = {"position": [128, 128, Z + 0.5], "crossSectionScale": 1, "layout": "xy", "showAxisLines": False,
        "showScaleBar": False, "showDefaultAnnotations": False}
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
MAGENTA, YELLOW = (255, 0, 255), (255, 255, 0)


def _hex(rgb):
    return "#%02x%02x%02x" % rgb


@pytest.fixture(scope="module")
def artifacts() -> Path:
    base = Path(os.environ.get("CONNECTOME_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    d = base / "browser"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def cutout(shared_data) -> Path:
    p = shared_data / "segmentation_pinky40_cutout" / "precomputed_256cube"
    assert (p / "info").is_file(), f"EM cutout missing at {p}"
    return p


@pytest.fixture(scope="module")
def section(cutout) -> np.ndarray:
    """The z = 0 slice of the real segmentation, indexed [x, y] (read with cloud-volume)."""
    from cloudvolume import CloudVolume

    cv = CloudVolume(cutout.as_uri(), progress=False)
    return np.asarray(cv[:, :, Z:Z + 1])[:, :, 0, 0]


@pytest.fixture(scope="module")
def chosen(section) -> dict:
    """The 2nd-4th largest segments of the slice are chosen; the largest (60 % of it) is not."""
    ids, counts = np.unique(section, return_counts=True)
    order = np.argsort(-counts)
    ranked = [int(ids[i]) for i in order if ids[i] != 0]
    return {"unselected": ranked[0], "ids": ranked[1:4], "colors": [RED, GREEN, BLUE]}


@pytest.fixture(scope="module")
def browser():
    b = ng.HeadlessBrowser(640, 640)  # installs chromium with apt-get when it is missing
    try:
        yield b
    finally:
        b.close()


def _close(img: np.ndarray, rgb, tol: int = 12) -> np.ndarray:
    return (np.abs(img.astype(int) - np.array(rgb)) <= tol).all(axis=-1)


def _annotated(block: np.ndarray, extra_colors) -> np.ndarray:
    """Pixels of annotations (points, lines) and their anti-aliased outlines."""
    from scipy.ndimage import binary_dilation

    mask = np.zeros(block.shape[:2], dtype=bool)
    for rgb in extra_colors:
        mask |= _close(block, rgb, 60)
    return binary_dilation(mask, iterations=3) if mask.any() else mask


def _section_pixels(img: np.ndarray, status: dict, section: np.ndarray, ids: list[int], colors: list,
                    extra_colors=()) -> tuple:
    """Find the 256 x 256 block of the screenshot showing the slice (the panel centre is voxel 128,128,
    one screen pixel per voxel; search +-4 px); return it, the IoU of each chosen segment (outside
    annotation pixels), the shift and the annotation mask."""
    left, top, width, height = status["panels"][0]
    ox0, oy0 = int(round(left + width / 2 - 128)), int(round(top + height / 2 - 128))
    best = None
    for dy in range(-4, 5):
        for dx in range(-4, 5):
            ox, oy = ox0 + dx, oy0 + dy
            block = img[oy:oy + 256, ox:ox + 256]
            if block.shape[:2] != (256, 256):
                continue
            keep = ~_annotated(block, extra_colors)
            ious = []
            for sid, rgb in zip(ids, colors):
                got = _close(block, rgb) & keep
                want = (section == sid).T & keep  # [y, x]
                ious.append((got & want).sum() / max(1, (got | want).sum()))
            if best is None or sum(ious) > sum(best[1]):
                best = (block, ious, (dx, dy), ~keep)
    assert best is not None, f"the panel {status['panels'][0]} cannot hold the 256 x 256 slice"
    return best


def _check_section(img, status, section, chosen, extra_colors=()):
    block, ious, shift, annotated = _section_pixels(img, status, section, chosen["ids"], chosen["colors"],
                                                    extra_colors)
    assert max(abs(shift[0]), abs(shift[1])) <= 1, f"slice drawn {shift} px away from where the state puts it"
    for sid, iou in zip(chosen["ids"], ious):
        assert iou >= 0.95, f"segment {sid}: rendered pixels match the volume with IoU {iou:.3f} only"
    assert annotated.mean() < 0.1, "annotations cover the slice"
    # background = the colour where the (unselected) largest segment lies
    big = (section == chosen["unselected"]).T
    values, counts = np.unique(block[big].reshape(-1, 3), axis=0, return_counts=True)
    bg = tuple(int(v) for v in values[np.argmax(counts)])
    assert bg not in [tuple(c) for c in chosen["colors"]], "an unselected segment is drawn in a chosen colour"
    assert (_close(block, bg, 2) | annotated)[big].mean() > 0.99, "the unselected segment is drawn"
    known = annotated.copy()
    for rgb in [bg, *chosen["colors"]]:
        known |= _close(block, rgb)
    foreign = 1 - known.mean()
    assert foreign < 0.005, f"{foreign:.2%} of the slice shows colours of no chosen segment (unselected segments?)"
    return block, shift


def test_local_viewer_draws_chosen_segments_in_their_colours(browser, cutout, section, chosen, artifacts):
    ids = chosen["ids"]
    colors = {str(sid): _hex(rgb) for sid, rgb in zip(ids, chosen["colors"])}  # ids as strings work too
    with ng.open(dataset=cutout, root_ids=ids, colors=colors, alpha=1.0, ui=False, view=VIEW) as v:
        assert v.url.startswith("http://127.0.0.1:")
        img, status = browser.render(v.url, layers=1, path=artifacts / "local_viewer_cutout.png")
        # the volume went to the browser over the loopback file server, chunk files gzip-encoded
        assert any(p.startswith("/volumes/precomputed_256cube/32_32_40/") for p in v.files.requests)
    block, shift = _check_section(img, status, section, chosen)
    for sid, rgb in zip(ids, chosen["colors"]):
        assert _close(block, rgb).sum() > 500, f"segment {sid} barely visible"


def _cutout_connectome(section: np.ndarray, chosen: dict, n_synapses: int = 400):
    """A connectome over the cutout's segments: nodes at their centroids in the shown slice,
    edges A->B->C, A->C, and synapses (two in the slice, the rest deeper)."""
    ids = chosen["ids"] + [chosen["unselected"]]
    rows = []
    for sid in ids:
        xs, ys = np.nonzero(section == sid)
        rows.append({"root_id": sid, "x_nm": (xs.mean() + 0.5) * RES[0], "y_nm": (ys.mean() + 0.5) * RES[1],
                     "z_nm": (Z + 0.5) * RES[2], "cell_type": f"type{len(rows)}"})
    nodes = pd.DataFrame(rows)
    a, b, c = chosen["ids"]
    edges = pd.DataFrame({"pre_root_id": [a, b, a], "post_root_id": [b, c, c], "synapse_count": [12, 7, 5]})
    rng = np.random.default_rng(0)
    # two synapses of A->B inside the slice, in empty space (background of the slice), and many deeper
    empty = np.argwhere(section == chosen["unselected"])
    picks = [empty[len(empty) // 3], empty[2 * len(empty) // 3]]
    syn = [{"pre_root_id": a, "post_root_id": b, "x_nm": (x + 0.5) * RES[0], "y_nm": (y + 0.5) * RES[1],
            "z_nm": (Z + 0.5) * RES[2]} for x, y in picks]
    for _ in range(n_synapses):
        syn.append({"pre_root_id": a, "post_root_id": b, "x_nm": float(rng.uniform(0, 256 * RES[0])),
                    "y_nm": float(rng.uniform(0, 256 * RES[1])), "z_nm": float(rng.uniform(100, 250) * RES[2])})
    c_ = cx.from_edges(edges, nodes, synapses=pd.DataFrame(syn), name="pinky40_cutout_toy",
                       manifest={"voxel_resolution_nm": list(RES)})
    return c_, [(int(x), int(y)) for x, y in picks]


def test_stored_motif_link_loads_from_loopback_server(browser, cutout, section, chosen, artifacts, tmp_path):
    c, in_slice = _cutout_connectome(section, chosen)
    matches = pd.DataFrame({"A": [chosen["ids"][0]], "B": [chosen["ids"][1]], "C": [chosen["ids"][2]]},
                           dtype="uint64")
    with ng.FileServer(ng.StateStore(tmp_path / "states")) as files:
        store = ng.StateStore(tmp_path / "states", base_url=files.states_url)
        volume = files.add_volume(cutout)
        sources = ng.Sources(segmentation=volume, resolution_nm=RES, name="pinky40")
        kw = dict(dataset=sources, colors={"A": _hex(RED), "B": _hex(GREEN), "C": _hex(BLUE)}, synapses=True,
                  alpha=1.0, view=VIEW, store=store, prefix="flywire")
        url = ng.motif_link(c, matches, **kw)
        # too long for a URL (400 synapse points): stored, content-addressed, linked by ?json_url=
        assert url.startswith("https://ngl.flywire.ai/?json_url=http://127.0.0.1:")
        state_url = ng.parse_link(url).state_url
        sid = state_url.rsplit("/", 1)[-1]
        assert (tmp_path / "states" / f"{sid}.json").is_file()
        assert ng.motif_link(c, matches, **kw) == url, "the same result must give the same link"
        state = store.get(sid)
        assert [layer["name"] for layer in state["layers"]] == ["match 0", "motif edges", "synapses"]

        # (b1) the browser fetches the stored state from the loopback server itself (#!<url>)
        with ng.open({}, store=store) as shell:
            img, status = browser.render(shell.remote_state_url(state_url), layers=3,
                                         path=artifacts / "stored_state_json_url.png")
        assert f"/v1/states/{sid}" in files.requests, "the browser did not fetch the stored state"
        props = [p for p in files.requests if "/segment_properties/" in p]
        assert props, "segment properties were not fetched"
        assert all(s == "loaded" for layer in status["layers"] for s in layer["sources"])
        block, _ = _check_section(img, status, section, chosen, extra_colors=[MAGENTA, YELLOW])
        for x, y in in_slice:  # the two synapses in this slice are drawn as yellow points
            patch = block[max(0, y - 4):y + 5, max(0, x - 4):x + 5]
            assert _close(patch, YELLOW, 40).sum() >= 4, f"no synapse point drawn at voxel ({x}, {y})"
        assert _close(block, MAGENTA, 40).sum() >= 40, "the motif's edges are not drawn as lines"

        # (b2) `open(link)` resolves ?json_url= over HTTP (a store without the state) and shows it
        other = ng.StateStore(tmp_path / "empty", base_url=files.states_url)
        n_before = list(files.requests).count(f"/v1/states/{sid}")
        with ng.open(url, store=other, ui=False) as v:
            img2, status2 = browser.render(v.url, layers=3, path=artifacts / "open_json_url_link.png")
        assert list(files.requests).count(f"/v1/states/{sid}") > n_before
        _check_section(img2, status2, section, chosen, extra_colors=[MAGENTA, YELLOW])


def test_viewer_page_is_the_wheel_client(cutout, chosen):
    """The local viewer serves the client that ships in the neuroglancer wheel (no network)."""
    with ng.open(dataset=cutout, root_ids=chosen["ids"][:1]) as v:
        with urllib.request.urlopen(v.url, timeout=10) as r:
            html = r.read().decode()
    assert r.status == 200 and "main" in html and "<script" in html


def test_screenshot_helper_writes_a_png_of_a_drawn_view(cutout, chosen, tmp_path, artifacts):
    sid = chosen["ids"][0]
    with ng.open(dataset=cutout, root_ids=[sid], colors={sid: "#ff0000"}, alpha=1.0, ui=False, view=VIEW) as v:
        path = ng.screenshot(v.url, tmp_path / "view.png", width=512, height=512)
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB"))
    Image.fromarray(img).save(artifacts / "screenshot_helper.png")
    assert _close(img, RED).sum() > 500  # the chosen segment, drawn before the screenshot was taken


def test_missing_chromium_is_reported_with_the_way_out(monkeypatch):
    from connectome.errors import DependencyError
    from connectome.neuroglancer import browser as br

    monkeypatch.setattr(br, "CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(DependencyError, match="make browser"):
        br.ensure_chromium(install=False)
