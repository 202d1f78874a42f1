"""Motif query and census with significance on C. elegans (Cook et al. 2019).

    python examples/motif_query.py [DATASET]

Finds feed-forward loops onto the command interneuron AVA in DotMotif syntax,
then tests which triads are over-represented against a degree-preserving null.
"""

import sys

import connectome as cx

QUERY = """
# feed-forward loops onto AVA, every edge >= 5 synapses
A -> B [weight >= 5]
B -> C [weight >= 5]
A -> C [weight >= 5]
C.cell_type == "AVA"
"""


def main(name: str = cx.DEFAULT_DATASET) -> None:
    c = cx.load(name)
    matches = cx.find_motifs(c, QUERY, exclude_automorphisms=True)
    names = c.node_table().set_index("root_id")["name"]
    print(f"{len(matches)} feed-forward loops onto AVA; first five:")
    for row in matches.head(5).itertuples(index=False):
        print("  " + " -> ".join(names[x] for x in row))
    print("count without materialising:", cx.count_motifs(c, QUERY, exclude_automorphisms=True))

    census = cx.triad_census(c)
    print("\ntriad census (chemical synapses):")
    print(census.to_string())

    sig = cx.motif_significance(c, null="degree_reciprocal", n=20, seed=1)  # the default null
    print("\nmost over-represented triads vs degree- and reciprocity-preserving rewiring (20 samples):")
    top = sig.table[sig.table["motif"] != "003"].sort_values("z", ascending=False).head(5)
    print(top[["motif", "observed", "null_mean", "z", "p_over"]].to_string(index=False))


if __name__ == "__main__":
    main(*sys.argv[1:])
