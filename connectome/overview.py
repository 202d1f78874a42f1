"""A connectome at a glance: counts, edge kinds, labels, provenance.

Examples
--------
>>> import connectome as cx
>>> s = cx.summary(cx.load("celegans_cook2019_herm"))
>>> s["nodes"], s["edge_kinds"]["gap_junction"]["rows"] > 0
(473, True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .schema import EDGE_KIND, POST, PRE, ROOT_ID, SYNAPSE_COUNT

if TYPE_CHECKING:  # graph.py imports this module; Connectome is named here for typing only
    from .graph import Connectome

__all__ = ["summary", "format_summary"]


def summary(c: Connectome) -> dict[str, Any]:
    """Counts and labels of ``c`` as a plain dict (JSON-friendly).

    Keys: ``name``, ``title``, ``species``, ``source``, ``version``, ``nodes``,
    ``edges`` (rows), ``neuron_pairs``, ``synapses`` (sum of counts),
    ``autapses``, ``edge_kinds`` (rows and synapses per kind), ``labels``
    (distinct values per label column), ``has_synapse_table``, ``derived``.
    """
    nodes = c.node_table()
    e = c.edge_table([PRE, POST, SYNAPSE_COUNT, EDGE_KIND])
    kinds = {
        str(k): {"rows": int(len(g)), "synapses": int(g[SYNAPSE_COUNT].sum())}
        for k, g in e.groupby(EDGE_KIND, observed=True)
    }
    labels = {}
    for col in nodes.columns:
        if col == ROOT_ID:
            continue
        s = nodes[col]
        if s.dtype.kind in "fc":
            continue
        labels[col] = {"distinct": int(s.nunique(dropna=True)), "missing": int(s.isna().sum())}
    m = c.manifest
    return {
        "name": m.name,
        "title": m.title,
        "species": m.species,
        "source": m.source,
        "version": m.version,
        "nodes": int(len(nodes)),
        "edges": int(len(e)),
        "neuron_pairs": int(len(e[[PRE, POST]].drop_duplicates())),
        "synapses": int(e[SYNAPSE_COUNT].sum()),
        "autapses": int((e[PRE] == e[POST]).sum()),
        "edge_kinds": kinds,
        "labels": labels,
        "has_synapse_table": c.has_synapses,
        "derived": list(m.extra.get("derived", [])),
    }


def format_summary(s: dict[str, Any]) -> str:
    """Human-readable text of :func:`summary`.

    Examples
    --------
    >>> import connectome as cx
    >>> print(format_summary(cx.summary(cx.load("celegans_cook2019_herm"))).splitlines()[0])
    celegans_cook2019_herm — C. elegans hermaphrodite, Cook et al. 2019 (chemical synapses and gap junctions)
    """
    lines = [f"{s['name']} — {s['title']}" if s.get("title") else s["name"]]
    if s.get("species"):
        lines.append(f"  species:      {s['species']}")
    src = s.get("source") or {}
    if src:
        lines.append("  source:       " + ", ".join(f"{k}={v}" for k, v in src.items() if k != "citation"))
        if src.get("citation"):
            lines.append(f"  citation:     {src['citation']}")
    if s.get("version"):
        lines.append("  version:      " + ", ".join(f"{k}={v}" for k, v in s["version"].items()))
    lines.append(f"  nodes:        {s['nodes']:,}")
    lines.append(f"  edge rows:    {s['edges']:,}  ({s['neuron_pairs']:,} neuron pairs, {s['autapses']:,} autapses)")
    lines.append(f"  synapses:     {s['synapses']:,}")
    for k, v in s["edge_kinds"].items():
        lines.append(f"    {k:<13} {v['rows']:,} rows, {v['synapses']:,} synapses")
    if s["labels"]:
        lines.append("  labels:")
        for col, v in s["labels"].items():
            lines.append(f"    {col:<13} {v['distinct']:,} values, {v['missing']:,} missing")
    if s.get("derived"):
        lines.append("  derived by:   " + " → ".join(s["derived"]))
    return "\n".join(lines)
