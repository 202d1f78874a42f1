"""Every command and snippet of the docs, run as written (issue 23: "a test runs every command and snippet
of the docs as written").

The ```` ```bash ````, ```` ```python ```` and ```` ```pycon ```` blocks of README.md, docs/getting-started.md
and docs/guides/*.md are run in one temporary folder with one ``CONNECTOME_HOME`` (the offline datasets,
built once), with the project's ``connectome`` command from the venv on ``PATH``:

- a bash block runs in one ``bash -e -o pipefail`` (every line must succeed);
- the Python blocks run in one interpreter, each in a fresh namespace; a block of ``>>>`` lines is a doctest.

What a block needs that a reader brings (their own files, a store, a placeholder such as ``SEG``) is made
by a named setup, and what cannot run offline is skipped; both are said in the doc source itself, on the
line before the block, in an HTML comment that the rendered page does not show::

    <!-- docs-test: setup="export-files" -->
    <!-- docs-test: skip reason="needs a CAVE token and the internet" -->
    <!-- docs-test: skip-lines="connectome demo" reason="1-2 minutes: run by tests/core/test_cli.py" -->

Skips are counted: every one has a reason, and there are few (:data:`MAX_SKIPS`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connectome.api.testing import ServiceProcess
from helpers import ROOT

DOCS = ("README.md", "docs/getting-started.md", *sorted(p.relative_to(ROOT).as_posix()
                                                        for p in (ROOT / "docs" / "guides").glob("*.md")))
#: the most blocks (or lines of blocks) that may be left out, each with its reason in the doc source: today
#: the ways to start ``connectome serve`` (1: it runs until stopped; the ``service`` setup starts one for the
#: guide's clients), CAVE online (5), ``make``/the demo (3: minutes, run by tests/core/test_cli.py), GNN training
#: (2: minutes, tests/gnn), Neuroglancer placeholders and servers (3). Lower it when one becomes runnable; never
#: raise it to let a new skip in.
MAX_SKIPS = 14
#: part of the normal suite (``slow`` only says it takes more than a few seconds: about 2 CPU-minutes)
pytestmark = pytest.mark.slow
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>bash|python|pycon)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:(?P<body>.*?)-->\s*$")
_KEYS = {"skip", "reason", "setup", "skip-lines"}
_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    code: str
    skip: bool = False
    reason: str = ""
    setup: tuple[str, ...] = ()
    skip_lines: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def doctest(self) -> bool:
        return self.lang == "pycon" or self.code.lstrip().startswith(">>>")

    def runnable_code(self) -> str:
        """The code, with the lines named by ``skip-lines`` left out (continuation lines joined first)."""
        if not self.skip_lines:
            return self.code
        lines = self.code.replace("\\\n", " ").splitlines()
        return "\n".join(ln for ln in lines if not any(ln.strip().startswith(p) for p in self.skip_lines))


def _marker(text: str) -> dict[str, str]:
    out = {}
    for word in shlex.split(text):
        key, eq, value = word.partition("=")
        assert key in _KEYS, f"unknown docs-test key {key!r} (known: {sorted(_KEYS)})"
        out[key] = value if eq else "yes"
    return out


def blocks(docs: tuple[str, ...] = DOCS) -> list[Block]:
    """The fenced bash/python/pycon blocks of ``docs``, with the docs-test marker on the line before each."""
    out = []
    for doc in docs:
        lines = (ROOT / doc).read_text().splitlines()
        i = 0
        while i < len(lines):
            m = _FENCE.match(lines[i])
            if not m:
                i += 1
                continue
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            code = textwrap.dedent("\n".join(lines[i + 1:end])) + "\n"
            prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            mk = _marker(_MARKER.match(prev).group("body")) if _MARKER.match(prev) else {}
            out.append(Block(doc, i + 1, m.group("lang"), code, skip="skip" in mk, reason=mk.get("reason", ""),
                             setup=tuple(s for s in mk.get("setup", "").split(",") if s),
                             skip_lines=tuple(s.strip() for s in mk.get("skip-lines", "").split(";") if s.strip())))
            i = end + 1
    return out


# ------------------------------------------------------------------------------------------------ setups
#: FlyWire-style ids (above 2**53: float64 would change them)
FW = np.arange(8, dtype=np.uint64) + np.uint64(720575940621039145)


def _export_files(d: Path) -> None:
    """The files the docs' ingest commands name, small, in the shapes the docs describe."""
    rng = np.random.default_rng(23)
    n = 40
    pinky = pd.DataFrame({"id": np.arange(n) + 1,
                          "presyn_segid": rng.choice([648518346349538157, 648518346349538158], n),
                          "postsyn_segid": rng.choice([648518346349539887, 648518346349539888], n)})
    for p in ("ctr", "pre", "post"):
        for a in "xyz":
            pinky[f"{p}_pos_{a}_vx"] = rng.integers(1, 40_000 if a != "z" else 2_000, n)
    pinky["spine_vol_um3"] = rng.random(n).round(5)
    pinky["cleft_vx"] = rng.integers(20, 400, n)
    pni = pd.DataFrame({"id": np.arange(n) + 1,
                        "pre_pt_root_id": rng.choice([864691135000000001, 864691135000000002], n),
                        "post_pt_root_id": rng.choice([864691135000000003, 864691135000000004], n),
                        "ctr_pt_position": [f"[{x} {y} {z}]" for x, y, z in rng.integers(1, 1000, (n, 3))],
                        "size": rng.integers(50, 500, n)})
    ids = [int(x) for x in FW]
    conn = pd.DataFrame({"pre_root_id": ids[:4] + ids[4:7], "post_root_id": ids[1:5] + ids[5:8],
                         "neuropil": ["AL_L", "AL_L", "LH_L", "AL_L", "AL_R", "AL_R", "LH_R"],
                         "syn_count": [12, 9, 7, 30, 11, 8, 6], "nt_type": ["ACH", "ACH", "GABA", "ACH", "ACH", "ACH",
                                                                           "GABA"]})
    classification = pd.DataFrame({"root_id": ids, "super_class": "central", "class": "ALPN",
                                   "cell_type": ["ORN_DA1", "DA1_lPN", "LHAV4a4", "LHN", "ORN_DA1", "DA1_lPN",
                                                 "LHAV4a4", "LHN"],
                                   "side": ["left"] * 4 + ["right"] * 4})
    files = {
        "my.csv": pd.DataFrame({"from": [1, 2, 3], "to": [2, 3, 1], "n": [4, 5, 6]}),
        "labels.csv": pd.DataFrame({"root_id": range(1, 51), "cell_type": [f"c{i}" for i in range(50)]}),
        "connections.csv.gz": conn, "classification.csv.gz": classification,
        "edges.csv": pd.DataFrame({"bodyId_pre": [10, 11], "bodyId_post": [11, 10], "weight": [3, 8],
                                   "roi": ["MB", "LH"]}),
        "neurons.csv": pd.DataFrame({"bodyId": [10, 11], "type": ["KC", "APL"]}),
        "pinky_synapses.csv": pinky,
        "fw_connections.csv": conn.rename(columns={"pre_root_id": "pre_root", "post_root_id": "post_root"}),
        "fw_neurons.csv": pd.DataFrame({"root_id": ids, "primary_type": classification["cell_type"],
                                        "super_class": "central", "side": classification["side"]}),
        "synapses_pni_2.csv": pni,
        "aibs_metamodel_celltypes_v661.csv": pd.DataFrame({
            "id": [1, 2], "pt_root_id": [864691135000000003, 864691135000000004],
            "classification_system": ["excitatory_neuron", "inhibitory_neuron"], "cell_type": ["23P", "BC"],
            "pt_position": ["[100 200 30]", "[110 210 31]"]}),
    }
    for name, df in files.items():
        df.to_csv(d / name, index=False)
    pd.DataFrame({"id": np.arange(n) + 1, "pre_pt_root_id": rng.choice(FW[:4], n).astype(np.int64),
                  "post_pt_root_id": rng.choice(FW[4:], n).astype(np.int64),
                  **{f"post_pt_position_{a}": rng.integers(1, 50_000, n).astype(np.int32) for a in "xyz"},
                  "cleft_score": rng.integers(50, 200, n).astype(np.int16),
                  "connection_score": rng.random(n).astype(np.float32)}).to_feather(d / "flywire_synapses_783.feather")


def _flywire_store(d: Path) -> None:
    """``stores/fw``: a FlyWire store from Codex release files (recognised as FlyWire v783: links have a volume)."""
    from connectome.ingest.release import ingest_codex

    _setup(d, "export-files")
    ingest_codex(d / "connections.csv.gz", d / "classification.csv.gz", version="783", out=d / "stores" / "fw",
                 progress=False)


def _microns_box(d: Path) -> None:
    """``stores/microns_box`` (MICrONS ids) and the ``proofreading_status_and_strategy.csv`` of its cells."""
    import connectome as cx

    ids = [864691135572530981, 864691135572530982, 864691135572530983, 864691135572530984]
    edges = pd.DataFrame({"pre_root_id": ids[:3] + [ids[3]], "post_root_id": ids[1:] + [ids[0]],
                          "synapse_count": [3, 4, 5, 6]}).astype({"pre_root_id": np.uint64, "post_root_id": np.uint64})
    cx.from_edges(edges).save(d / "stores" / "microns_box")
    pd.DataFrame({"valid_id": ids[:3], "pt_root_id": ids[:3], "status_axon": ["t", "f", "t"],
                  "status_dendrite": ["t", "t", "f"]}).to_csv(d / "proofreading_status_and_strategy.csv", index=False)


#: the environment of each work folder's blocks (set by the ``env`` fixture) and its running service, if any
_ENVS: dict[Path, dict[str, str]] = {}
_SERVICES: dict[Path, ServiceProcess] = {}


def _service(d: Path) -> None:
    """One ``connectome serve`` for the module (a free loopback port, its own data root under the docs'
    ``CONNECTOME_HOME``) and a token: the block gets ``T``, ``U``, ``H`` and ``DS`` of the service guide
    (:func:`_block_env`), and ``CONNECTOME_API_HOME`` so that its ``connectome token``/``access`` commands
    act on this service. Stopped at the end of the module (the ``env`` fixture)."""
    e = _ENVS[d]
    root = Path(e["CONNECTOME_HOME"]) / "docs-service"
    # the guide submits more jobs than the default per-token limit (2) allows at once
    sp = ServiceProcess(root, workers=2, env={**e, "CONNECTOME_API_MAX_JOBS_PER_TOKEN": "16"},
                        log=d / "_service.log").start()
    _SERVICES[d] = sp
    r = subprocess.run([str(_BIN / "connectome"), "token", "create", "docs-reader", "--data-root", str(root)],
                       env=e, capture_output=True, text=True, timeout=120, check=True)
    token = r.stdout.strip().splitlines()[-1]
    # as the guide's admin does: FlyWire's neuron table carries data-use terms that a reader accepts
    subprocess.run([str(_BIN / "connectome"), "access", "dataset", "flywire_v783_neurons", "--terms",
                    "FlyWire data terms", "--terms-url", "https://codex.flywire.ai/about", "--data-root", str(root)],
                   env=e, capture_output=True, text=True, timeout=120, check=True)
    (d / "_service.env").write_text(json.dumps({
        "T": token, "U": f"{sp.url}/v1", "H": f"Authorization: Bearer {token}", "DS": "celegans_cook2019_herm",
        "CONNECTOME_API_HOME": str(root)}))


def _block_env(d: Path, block: Block) -> dict[str, str]:
    """The environment a block runs in: the module's, plus the service's variables for ``setup="service"``."""
    e = dict(_ENVS[d])
    if "service" in block.setup:
        e.update(json.loads((d / "_service.env").read_text()))
    return e


#: setups that make files in the work folder (run once, in order of first use)
FILE_SETUPS = {"export-files": _export_files, "flywire-store": _flywire_store, "microns-box": _microns_box,
               "service": _service}
#: setups that define the names a Python block takes from the reader (run in the block's namespace first)
PY_SETUPS = {
    "my-tables": """
import pandas as pd
my_edges = pd.DataFrame({"pre_root_id": [720575940621039145, 720575940621039146], "post_root_id":
                         [720575940621039146, 720575940621039147], "synapse_count": [7, 5]})
my_nodes = pd.DataFrame({"root_id": [720575940621039145, 720575940621039146, 720575940621039147],
                         "cell_type": ["a", "b", "c"]})
edges, nodes = pd.concat([my_edges, my_edges.head(1)]), my_nodes   # bare tables: one pair twice
""",
    "flywire-store": """
import connectome as cx
fw = cx.load("stores/fw")
ids = cx.ids_of(fw, cell_type=["ORN_DA1", "DA1_lPN"])
""",
    "worm-ids": """
import connectome as cx
ids = cx.ids_of(cx.load("celegans_cook2019_herm"), cell_type="AVA")
""",
    "worm-rows": """
import connectome as cx
rows = cx.ids_of(cx.load("celegans_cook2019_herm"), super_class="sensory")
cols = cx.ids_of(cx.load("celegans_cook2019_herm"), cell_type=["AVA", "AVB", "AVD", "AVE"])
""",
    "big-query": """
import connectome as cx
c = cx.load("celegans_cook2019_herm")
big_query = "\\n".join(f"N{i} -> N{i + 1} [weight >= 100000]" for i in range(40))
""",
    "seg": """
import os
SEG = os.path.join(os.environ["CONNECTOME_SHARED_DATA"], "segmentation_pinky40_cutout", "precomputed_256cube")
""",
}
_done: dict[Path, set[str]] = {}


def _setup(d: Path, name: str) -> None:
    done = _done.setdefault(d, set())
    if name in FILE_SETUPS and name not in done:
        FILE_SETUPS[name](d)
        done.add(name)


@pytest.fixture(scope="module")
def env(tmp_path_factory, shared_data):
    work = tmp_path_factory.mktemp("docs-work")
    home = tmp_path_factory.mktemp("docs-home")
    e = {**os.environ, "CONNECTOME_HOME": str(home), "CONNECTOME_PROGRESS": "0", "MPLBACKEND": "Agg",
         "CONNECTOME_SHARED_DATA": str(shared_data), "PATH": f"{_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
         "PYTHONWARNINGS": "default"}
    e.pop("CONNECTOME_SCHEDULER", None)
    _ENVS[work] = e
    yield {"work": work, "env": e}
    if work in _SERVICES:
        _SERVICES.pop(work).stop()


_RUNNER = r'''
import doctest, io, json, os, sys, traceback, contextlib
jobs = json.load(open(sys.argv[1]))
results = {}
for job in jobs:
    ns = {"__name__": "__main__"}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            for code in job["setup"]:
                exec(compile(code, job["id"] + " (setup)", "exec"), ns)
            if job["doctest"]:
                test = doctest.DocTestParser().get_doctest(job["code"], ns, job["id"], job["id"], 0)
                runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
                report = io.StringIO()
                runner.run(test, out=report.write)
                if runner.failures:
                    raise AssertionError(report.getvalue())
            else:
                exec(compile(job["code"], job["id"], "exec"), ns)
        results[job["id"]] = None
    except BaseException:
        results[job["id"]] = traceback.format_exc(limit=8)
    with open(sys.argv[2], "w") as f:
        json.dump(results, f)
sys.stdout.flush(); sys.stderr.flush()
os._exit(0)  # a local viewer (ng.open) leaves threads running
'''


@pytest.fixture(scope="module")
def python_results(env):
    """Every Python block, run once in one interpreter (a fresh namespace each); id -> traceback or None."""
    work = env["work"]
    jobs = []
    for b in blocks():
        if b.lang == "bash" or b.skip:
            continue
        for s in b.setup:
            _setup(work, s)
        jobs.append({"id": b.id, "code": b.runnable_code(), "doctest": b.doctest,
                     "setup": [PY_SETUPS[s] for s in b.setup if s in PY_SETUPS]})
    (work / "_jobs.json").write_text(json.dumps(jobs))
    (work / "_runner.py").write_text(_RUNNER)
    service = [b for b in blocks() if b.lang != "bash" and not b.skip and "service" in b.setup]
    run_env = _block_env(work, service[0]) if service else env["env"]  # one interpreter: its variables for all
    r = subprocess.run([sys.executable, "_runner.py", "_jobs.json", "_results.json"], cwd=work, env=run_env,
                       capture_output=True, text=True, timeout=900, check=False)
    results = json.loads((work / "_results.json").read_text()) if (work / "_results.json").is_file() else {}
    return results, r.stderr[-4000:]


def _runnable() -> list[Block]:
    return [b for b in blocks() if not b.skip]


def test_the_docs_have_blocks_and_markers_are_understood():
    found = blocks()
    assert len(found) >= 30, [b.id for b in found]
    for b in found:
        for s in b.setup:
            assert s in FILE_SETUPS or s in PY_SETUPS, f"{b.id}: unknown setup {s!r}"
    # a marker must sit right before a block: one anywhere else would be silently ignored
    for doc in DOCS:
        lines = (ROOT / doc).read_text().splitlines()
        for i, ln in enumerate(lines):
            if _MARKER.match(ln):
                nxt = next((x for x in lines[i + 1:] if x.strip()), "")
                assert _FENCE.match(nxt), f"{doc}:{i + 1}: a docs-test marker not followed by a code block"


def test_skips_are_few_and_each_has_a_reason():
    skipped = [b for b in blocks() if b.skip or b.skip_lines]
    for b in skipped:
        assert len(b.reason) >= 10, f"{b.id}: a skip without a reason"
        lines = [ln.strip() for ln in b.code.replace("\\\n", " ").splitlines()]
        for prefix in b.skip_lines:  # a stale skip-lines (the line is gone) would hide nothing and say nothing
            assert sum(ln.startswith(prefix) for ln in lines) == 1, f"{b.id}: skip-lines={prefix!r} names no one line"
    assert len(skipped) <= MAX_SKIPS, [f"{b.id}: {b.reason}" for b in skipped]
    assert len(_runnable()) >= len(blocks()) - MAX_SKIPS


@pytest.mark.parametrize("block", [b for b in _runnable() if b.lang != "bash"], ids=lambda b: b.id)
def test_python_block_runs_as_written(block, python_results):
    results, stderr = python_results
    assert block.id in results, f"the runner did not reach {block.id}:\n{stderr}"
    assert results[block.id] is None, f"{block.id} fails as written:\n{results[block.id]}"


@pytest.mark.parametrize("block", [b for b in _runnable() if b.lang == "bash"], ids=lambda b: b.id)
def test_bash_block_runs_as_written(block, env):
    work = env["work"]
    for s in block.setup:
        _setup(work, s)
    # its own session, output to files: what a block starts in the background (connectome serve &) is stopped
    # when the block is done, and holds no pipe open
    out, err = work / "_stdout.txt", work / "_stderr.txt"
    with out.open("w") as fo, err.open("w") as fe:
        p = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", block.runnable_code()], cwd=work,
                             env=_block_env(work, block), stdout=fo, stderr=fe, text=True, start_new_session=True)
        stderr = ""
        try:
            rc = p.wait(timeout=600)
            # what the block printed while it ran; stopping what it left running (a service) is the test's
            # doing, and Dask's workers may log a heartbeat race while their scheduler closes
            stderr = err.read_text()
        finally:
            _stop_group(p.pid)
    assert rc == 0, f"{block.id} fails as written (exit {rc}):\n{stderr[-3000:]}"
    assert "Traceback" not in stderr, stderr[-3000:]


def _group_roots(pgid: int) -> list[int]:
    """The processes of group ``pgid`` whose parent is outside it: what the block itself left running
    (``connectome serve &``), not the workers those started."""
    members: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while the list was read: nothing left to stop
        if int(fields[2]) == pgid:
            members[int(d.name)] = int(fields[1])
    return [pid for pid, ppid in members.items() if ppid not in members]


def _stop_group(pgid: int) -> None:
    """Stop what a bash block left running in its session: SIGTERM to what the block started, as a user's
    ``kill`` would (a service then stops its own workers; up to a minute on a loaded machine), then SIGTERM
    and SIGKILL to the whole group."""
    for pid in _group_roots(pgid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass  # it ended on its own: nothing to stop
    for sig, wait in ((None, 60.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            if sig is not None:
                os.killpg(pgid, sig)
            else:
                os.killpg(pgid, 0)
        except ProcessLookupError:
            return  # the group is gone: everything stopped
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
