"""Load a dataset and print its summary, its type-level wiring and an export.

    python examples/load_and_summarize.py [DATASET]

DATASET defaults to the embedded C. elegans hermaphrodite (Cook et al. 2019).
"""

import sys

import connectome as cx


def main(name: str = cx.DEFAULT_DATASET) -> None:
    c = cx.load(name)
    print(cx.format_summary(cx.summary(c)))

    # FlyWire practice: a "connection" is >= 5 synapses; here it is an explicit parameter.
    strong = cx.filter_edges(c, min_synapses=5, edge_kind="chemical")
    by_class = cx.collapse(strong, by="super_class")
    print("\nsynapses between classes (pairs with >= 5 synapses):")
    print(by_class[["pre_super_class", "post_super_class", "synapse_count", "connection_count"]]
          .head(6).to_string(index=False))

    adj = cx.to_csr(strong)
    print(f"\nCSR adjacency: {adj.matrix.shape}, {adj.matrix.nnz} non-zeros; "
          f"row 0 is root id {int(adj.ids[0])}")


if __name__ == "__main__":
    main(*sys.argv[1:])
