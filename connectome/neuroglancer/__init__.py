"""Neuroglancer links for every result: states, links, a state store, a local viewer.

``import connectome as cx; cx.neuroglancer.link(c, root_ids=...)`` — the
``neuroglancer`` package is imported only when a state is built.

- :func:`build_state` / :func:`link` — a state or link showing neurons of a
  connectome (or a volume): dataset-aware image and segmentation layers, colours
  by label or by a user map, synapse points, lines, segment properties; root ids
  as strings in the JSON.
- :func:`state_link` — long states go to the content-addressed :class:`StateStore`
  and the link loads them by URL (``?json_url=`` or ``#!https://``).
- :func:`motif_link`, :func:`motif_links`, :func:`prediction_link`,
  :func:`pair_link`, :func:`match_link`, :func:`cluster_link` — one call per result.
- :func:`open` — serve the viewer that ships in the ``neuroglancer`` wheel on
  127.0.0.1 for local volumes and states.
- :data:`KNOWN_DATASETS` — the datasets whose public volumes are known (FlyWire,
  MICrONS minnie65 and pinky100, hemibrain, MANC), picked by the manifest's datastack.
- :func:`collect_warnings` — the warnings of a block (wrong-version segmentation,
  links that open only on this machine, ``color_by`` without values).
- :class:`HeadlessBrowser`, :func:`screenshot` — render a link in headless Chromium.

Examples
--------
>>> import connectome as cx
>>> url = cx.neuroglancer.link(None, [720575940621039145], dataset="flywire", colors="red")
>>> url.split("#!")[0]                      # FlyWire's volumes open in FlyWire's own viewer
'https://ngl.flywire.ai/'
"""

from __future__ import annotations

from connectome.plugins import lazy_exports

_EXPORTS = {
    "build_state": "state",
    "assemble_state": "state",
    "SegmentGroup": "state",
    "segment_properties": "state",
    "link": "links",
    "state_link": "links",
    "dataset_link": "links",
    "parse_link": "links",
    "resolve_link": "links",
    "VIEWERS": "links",
    "DEFAULT_MAX_LENGTH": "links",
    "StateStore": "statestore",
    "StateNotFoundError": "statestore",
    "save_state": "statestore",
    "load_state": "statestore",
    "state_bytes": "statestore",
    "states_dir": "statestore",
    "state_id": "statestore",
    "Sources": "sources",
    "KNOWN_DATASETS": "sources",
    "dataset_sources": "sources",
    "known_dataset": "sources",
    "check_id_namespace": "sources",
    "collect_warnings": "notices",
    "motif_link": "results",
    "motif_links": "results",
    "prediction_link": "results",
    "pair_link": "results",
    "path_link": "paths",
    "partner_link": "paths",
    "influence_link": "paths",
    "layers_link": "paths",
    "match_link": "similarity_links",
    "cluster_link": "similarity_links",
    "open": "viewer",
    "LocalViewer": "viewer",
    "FileServer": "server",
    "HeadlessBrowser": "browser",
    "screenshot": "browser",
}

# `open` is reachable as cx.neuroglancer.open but left out of `import *` (it would shadow the builtin).
__all__ = sorted(name for name in _EXPORTS if name != "open")


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=())
