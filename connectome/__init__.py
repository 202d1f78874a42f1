"""connectome — connectome stores, Dask-backed graphs and their analysis.

``import connectome as cx`` is cheap: submodules load on first use.

Examples
--------
>>> import connectome as cx
>>> c = cx.load(cx.DEFAULT_DATASET)
>>> c.n_nodes
473
>>> sorted(cx.collapse(c, by="super_class")["pre_super_class"].unique())[:3]
['interneuron', 'motor', 'sensory']
"""

from __future__ import annotations

from .plugins import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    # the graph and its store
    "Connectome": "graph",
    "Tables": "graph",
    "Manifest": "manifest",
    "write_store": "store",
    "read_manifest": "store",
    "verify_store": "store",
    "from_edges": "build",
    # datasets
    "datasets": "registry",
    "load": "registry",
    "DEFAULT_DATASET": "registry",
    # filters and views
    "filter_edges": "filters",
    "select": "filters",
    "subgraph": "filters",
    "neighborhood": "filters",
    "ids_of": "filters",
    "proofread_edges": "proofreading",
    "collapse": "typelevel",
    "pair_totals": "typelevel",
    "synapse_counts": "synapse_reads",
    "to_csr": "export",
    "to_networkx": "export",
    "SparseGraph": "export",
    "summary": "overview",
    "format_summary": "overview",
    # motifs and statistics
    "triad_census": "triads",
    "dyad_census": "triads",
    "TRIAD_NAMES": "triads",
    "motif_significance": "significance",
    "stats": "connectivity",
    "degree_distribution": "connectivity",
    "synapse_count_distribution": "connectivity",
    "reciprocity": "connectivity",
    "connection_probability": "connectivity",
    "clustering": "connectivity",
    "rich_club": "connectivity",
    "components": "connectivity",
    "path_lengths": "connectivity",
    "find_motifs": "motifs",
    "count_motifs": "motifs",
    "QueryLimits": "motifs",
    "MotifSignificance": "significance",
    "null_graph": "significance",
    # similarity, clustering, matching
    "similarity": "connectivity_similarity",
    "connectivity_profiles": "connectivity_similarity",
    "cluster": "neuron_clusters",
    "match": "matching",
    # partners, paths, signed and effective connectivity, information-flow layers
    "partners": "partner_tables",
    "adjacency": "partner_tables",
    "adjacency_matrix": "partner_tables",
    "plot_adjacency": "partner_tables",
    "shortest_paths": "pathways",
    "paths": "pathways",
    "count_paths": "pathways",
    "signed_pairs": "signs",
    "FLY_SIGNS": "signs",
    "CELEGANS_SIGNS": "signs",
    "influence": "effective",
    "flow_layers": "layers",
    # where Dask work runs
    "use_scheduler": "scheduler",
    "set_scheduler": "scheduler",
    "local_cluster": "scheduler",
    "close_client": "scheduler",
}

__all__ = sorted(_EXPORTS) + ["errors", "neuroglancer", "__version__"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=("errors", "neuroglancer", "gnn", "ingest", "api"))
