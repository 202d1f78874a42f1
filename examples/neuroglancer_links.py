"""Neuroglancer links for a motif match and for cell-type predictions, one call each.

The neurons are real FlyWire v783 neurons (their root ids open in FlyWire's public
segmentation, ``precomputed://gs://flywire_v141_m783``); the edges come from the
FlyWire-size *synthetic* graph in ``../shared/data`` (real neurons, synthetic wiring:
the matches and predictions illustrate the calls, not fly biology). Its manifest names
no datastack (it is synthetic), so the volume is named: ``dataset="flywire:783"``
(FlyWire's image and v783 segmentation; links open in FlyWire's viewer, ngl.flywire.ai).

1. Feed-forward loops among descending neurons (``cx.find_motifs``) → one link for
   the top 3 matches, and one link per match.
2. A neighbour-vote classifier (each neuron gets the most common ``class`` of its
   synaptic partners, weighted by synapse count) stands in for ``model.predict(c)``
   → one link coloured by predicted class, with a layer of the disagreements.
3. The two first neurons of the first match as a pair.

Links whose state is longer than 8,000 characters are stored in the state store
(``--states``, default ``CONNECTOME_STATES`` or ``<data home>/states``) and point at
``CONNECTOME_STATE_SERVER`` (default: the API's ``http://127.0.0.1:8000/v1/states``,
which only this machine reaches: the script warns then; ``--state-server`` a shared URL);
``connectome open <link>`` shows any of them locally.

Run::

    python examples/neuroglancer_links.py [--states DIR] [--state-server URL] [--prefix neuroglancer-demo]
"""

from __future__ import annotations

import argparse

import pandas as pd

import connectome as cx

SOURCE = "flywire:783"  # FlyWire's public image and v783 segmentation

FFL = """
A -> B [weight >= 5]
B -> C [weight >= 5]
A -> C [weight >= 5]
"""


def neighbour_vote(c: cx.Connectome, ids, label: str = "class", choices=None) -> pd.DataFrame:
    """Predict ``label`` of each neuron in ``ids`` as the synapse-weighted majority of its partners' labels
    (only partners whose label is one of ``choices``, if given)."""
    nodes = c.node_table(["root_id", label]).dropna()
    if choices is not None:
        nodes = nodes[nodes[label].isin(choices)]
    e = c.edge_table(["pre_root_id", "post_root_id", "synapse_count"])
    ids = pd.Index(ids)
    out_ = e[e.pre_root_id.isin(ids)].rename(columns={"pre_root_id": "root_id", "post_root_id": "partner"})
    in_ = e[e.post_root_id.isin(ids)].rename(columns={"post_root_id": "root_id", "pre_root_id": "partner"})
    both = pd.concat([out_, in_], ignore_index=True)
    both = both.merge(nodes.rename(columns={"root_id": "partner", label: "vote"}), on="partner")
    votes = both.groupby(["root_id", "vote"], observed=True)["synapse_count"].sum().reset_index()
    total = votes.groupby("root_id")["synapse_count"].transform("sum")
    votes["probability"] = votes["synapse_count"] / total
    best = votes.sort_values(["root_id", "probability", "vote"], ascending=[True, False, True])
    best = best.drop_duplicates("root_id")
    return best.rename(columns={"vote": "predicted"})[["root_id", "predicted", "probability"]].reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--states", help="state store folder for long states")
    p.add_argument("--state-server", help="URL where the store is served")
    p.add_argument("--prefix", default=None, help="viewer name or URL (default: FlyWire's, ngl.flywire.ai)")
    args = p.parse_args(argv)
    ng = cx.neuroglancer
    store = ng.StateStore(args.states, base_url=args.state_server)

    c = cx.load("flywire_scale_synthetic", progress=False)
    print(f"{c.name}: {c.n_nodes:,} real FlyWire v783 neurons, {c.n_edges:,} SYNTHETIC edges")

    # 1. motif matches -> links
    dn = cx.select(c, super_class="descending")
    matches = cx.find_motifs(dn, FFL, limit=50)
    print(f"\nfeed-forward loops among {dn.n_nodes:,} descending neurons: {len(matches)} (first 50)")
    print(matches.head(3).to_string())
    top = ng.motif_link(dn, matches, top_k=3, dataset=SOURCE, prefix=args.prefix, store=store)
    print(f"\nlink for the top 3 matches:\n{top}")
    each = ng.motif_links(dn, matches, top_k=3, dataset=SOURCE, prefix=args.prefix, store=store)
    print("\none link per match:")
    for i, url in each.items():
        print(f"  match {i}: {url[:140]}{'...' if len(url) > 140 else ''}")

    # 2. predictions -> one link coloured by prediction, with the disagreements
    classes = ["ALPN", "LHLN", "MBON", "DAN"]
    central = cx.select(c, **{"class": classes})
    predictions = neighbour_vote(c, central.node_table(["root_id"])["root_id"], choices=classes)
    truth = central.node_table(["root_id", "class"]).merge(predictions, on="root_id")
    wrong = int((truth["class"].astype(str) != truth["predicted"].astype(str)).sum())
    print(f"\nneighbour-vote predictions of 'class' for {len(predictions):,} neurons: {wrong:,} disagree")
    colors = {"ALPN": "#1f77b4", "LHLN": "#ff7f0e", "MBON": "#2ca02c", "DAN": "#d62728"}
    url = ng.prediction_link(central, predictions, truth="class", colors=colors, default_color="#bbbbbb",
                             dataset=SOURCE, prefix=args.prefix, store=store)
    print(f"link (coloured by predicted class; layer 'disagreements'):\n{url}")

    # 3. a pair of neurons
    a, b = int(matches.iloc[0]["A"]), int(matches.iloc[0]["B"])
    # (this store has no per-synapse table; with one, pair_link draws the synapses as points)
    print(f"\npair {a} -> {b}:\n{ng.pair_link(dn, a, b, synapses=False, dataset=SOURCE, prefix=args.prefix, store=store)}")
    print(f"\nlong states are in {store.folder}; served at {store.base_url}/<id> by the API "
          "(or `connectome open <link>` locally)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
