"""Sphinx configuration of the connectome-service docs.

Built offline (no intersphinx, no remote images): ``sphinx-build -W -b html docs docs/_build/html``,
which ``tests/core/test_docs.py`` runs so that a broken reference fails the suite. Guides are
Markdown (MyST), so they read on GitHub too; the API reference is autodoc over the numpy-style
docstrings (napoleon).
"""

from __future__ import annotations

import connectome

project = "connectome-service"
author = "connectome-service contributors"
copyright = "connectome-service contributors"
release = version = connectome.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# numpy-style docstrings
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# Parameter types as plain text, not cross-references: without intersphinx, "list of (column, op, value)"
# would resolve "column" to whichever attribute of that name autodoc met first.
napoleon_use_param = False

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

# Markdown guides: heading anchors for in-page links ([text](#a-heading)), GitHub-style.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "alabaster"
html_title = "connectome-service"
html_theme_options = {"page_width": "1240px", "sidebar_width": "250px"}
html_static_path: list[str] = []
