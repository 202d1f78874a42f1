"""The docs build, offline, with warnings as errors (issue 17, item 8).

- ``docs/`` builds with Sphinx (autodoc + napoleon over the docstrings, MyST for the Markdown
  guides) with ``-W``: a docstring that breaks reST, an ambiguous reference or a guide that links
  to a missing page or heading fails the suite. No intersphinx and no remote images: the build
  needs nothing beyond the venv.
- The API reference names every public module of ``connectome``, ``connectome.ingest``,
  ``connectome.gnn`` and ``connectome.api`` (a new module without a page fails here).
- The README links to every guide, and its "Layout" diagram names only folders and files that exist.
"""

from __future__ import annotations

import re
import runpy
import subprocess
import sys

from helpers import ROOT

DOCS = ROOT / "docs"
#: installed name of each top-level folder (setuptools package-dir in pyproject.toml)
PACKAGES = {"connectome": "connectome", "ingest": "connectome.ingest", "gnn": "connectome.gnn",
            "api": "connectome.api"}


def _modules() -> list[str]:
    """Dotted installed names of the public modules of the four folders."""
    out = []
    for folder, name in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            if "__pycache__" in rel or any(p.startswith("_") and p != "__init__" for p in rel):
                continue  # private modules (ingest/cave/_compat.py) are not API
            parts = rel[:-1] if rel[-1] == "__init__" else rel
            out.append(".".join([name, *parts]))
    return out


def test_the_api_reference_names_every_public_module():
    documented = set()
    for page in (DOCS / "api").glob("*.rst"):
        documented |= set(re.findall(r"^\.\. automodule:: (\S+)$", page.read_text(), flags=re.MULTILINE))
    missing = sorted(set(_modules()) - documented)
    assert not missing, f"modules without an automodule entry in docs/api/*.rst: {missing}"
    unknown = sorted(documented - set(_modules()))
    assert not unknown, f"docs/api/*.rst documents modules that do not exist: {unknown}"


def test_the_build_is_offline():
    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert not [e for e in conf["extensions"] if "intersphinx" in e] and "intersphinx_mapping" not in conf
    for page in [*DOCS.rglob("*.md"), *DOCS.rglob("*.rst")]:
        if "_build" in page.parts:
            continue
        text = page.read_text()
        assert not re.search(r"!\[[^\]]*\]\(https?://", text), f"{page}: a remote image"
        assert not re.search(r"\.\. (image|figure):: https?://", text), f"{page}: a remote image"


def test_the_docs_build_with_warnings_as_errors(tmp_path):
    # a subprocess: autodoc imports every module afresh, and nothing is written into docs/
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                        "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
                       capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    html = tmp_path / "html"
    for page in ("index", "getting-started", "api/connectome", "api/ingest", "api/gnn", "api/api",
                 "api/neuroglancer", *(f"guides/{p.stem}" for p in (DOCS / "guides").glob("*.md"))):
        assert (html / f"{page}.html").is_file(), page
    # autodoc really ran: the public functions of each package have their entries
    reference = {"api/connectome": "connectome.registry.load", "api/motifs": "connectome.motifs.find_motifs",
                 "api/ingest": "connectome.ingest.cave.live.ingest_cave", "api/gnn": "connectome.gnn.training.train",
                 "api/api": "connectome.api.app.create_app",
                 "api/neuroglancer": "connectome.neuroglancer.links.link"}
    for page, target in reference.items():
        assert f'id="{target}"' in (html / f"{page}.html").read_text(), (page, target)


def test_the_readme_links_every_guide():
    readme = (ROOT / "README.md").read_text()
    guides = sorted(p.relative_to(ROOT).as_posix() for p in (DOCS / "guides").glob("*.md"))
    assert guides
    for g in guides:
        assert f"]({g})" in readme, f"README.md does not link {g}"
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).is_file(), f"README.md links {target}, which does not exist"


def test_the_readme_layout_draws_folders_that_exist():
    """Every folder (``name/``) and module (``name.py``, ``folder/name.py``) the diagram names exists, in one
    of the four package folders or their subfolders, and the walk reads source -> ingest -> store ->
    Connectome -> analysis -> link / HTTP, top to bottom."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Layout")
    end = readme.find("\n## ", start + 1)
    diagram = re.search(r"```\n(.*?)```", readme[start:end if end > 0 else None], flags=re.DOTALL)
    assert diagram, "the Layout section has no diagram"
    text = diagram.group(1)
    folders = [ROOT / f for f in PACKAGES]
    bases = [ROOT, *folders, *(d for f in folders for d in f.iterdir() if d.is_dir() and d.name != "__pycache__")]
    names = re.findall(r"(?<![\w./])((?:\w+/)*\w+(?:\.py\b|/))", text)
    assert {"ingest/", "connectome/", "gnn/", "api/"} <= {n.split("/")[0] + "/" for n in names}
    for name in names:
        assert any((b / name).exists() for b in bases), f"README Layout names {name}, which is not in the tree"
    steps = ("source", "ingest/", "store", "Connectome", "analysis", "connectome/neuroglancer/", "api/")
    walk = [text.find(s) for s in steps]
    assert -1 not in walk and walk == sorted(walk), f"the Layout diagram does not read {' -> '.join(steps)}"
