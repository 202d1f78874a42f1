"""Build a FlyWire-scale store with per-neuropil rows from ../shared/data/flywire_scale_synthetic (seeded).

    .venv/bin/python benchmarks/make_flywire_neuropil_store.py [--out DIR] [--seed 0]

Each synthetic connection (pre, post, syn_count >= 5, nt_type) is split over 1 to 3 neuropils
(probabilities 0.6 / 0.3 / 0.1, at most syn_count of them), drawn from 20 FlyWire neuropil names
with Zipf-like frequencies; its synapses are divided among them with a multinomial draw, each
neuropil getting at least one. The pair totals equal the source's syn_count, so the unconstrained
motif counts of the store equal those of ``flywire_scale_synthetic``. The store is written outside
the project (default ``CONNECTOME_HOME/flywire_scale_synthetic_neuropils``); the shared data is
only read. Synthetic: performance work only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

NEUROPILS = ["ME_R", "ME_L", "LO_R", "LO_L", "AL_R", "AL_L", "LOP_R", "LOP_L", "SMP_R", "SMP_L", "SLP_R",
             "SLP_L", "MB_CA_R", "MB_CA_L", "LH_R", "LH_L", "AVLP_R", "AVLP_L", "GNG", "PLP_R"]
NAME = "flywire_scale_synthetic_neuropils"


def split_rows(edges: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per-neuropil rows of ``edges`` (pre_root_id, post_root_id, syn_count, nt_type)."""
    rng = np.random.default_rng(seed)
    m = len(edges)
    syn = edges["syn_count"].to_numpy(np.int64)
    k = np.minimum(rng.choice([1, 2, 3], size=m, p=[0.6, 0.3, 0.1]), syn)
    p = 1.0 / np.arange(1, len(NEUROPILS) + 1)
    p /= p.sum()
    rep = np.repeat(np.arange(m), k)
    first = np.repeat(np.cumsum(k) - k, k)
    slot = np.arange(len(rep)) - first
    # distinct neuropils per connection: a Zipf-weighted first one, then two others
    d0 = rng.choice(len(NEUROPILS), size=m, p=p)
    r2 = rng.integers(0, len(NEUROPILS) - 1, size=m)
    r3 = (r2 + 1 + rng.integers(0, len(NEUROPILS) - 2, size=m)) % (len(NEUROPILS) - 1)
    draws = np.stack([d0, (d0 + 1 + r2) % len(NEUROPILS), (d0 + 1 + r3) % len(NEUROPILS)], axis=1)
    neuropil = draws[rep, slot]
    # synapses: one each, the rest multinomially
    extra = syn - k
    share = rng.random(len(rep))
    share /= np.bincount(rep, weights=share)[rep]
    counts = 1 + np.floor(share * extra[rep]).astype(np.int64)
    short = syn - np.bincount(rep, weights=counts, minlength=m).astype(np.int64)
    counts[np.cumsum(k) - k] += short  # the remainder to each connection's first row
    out = pd.DataFrame({
        "pre_root_id": edges["pre_root_id"].to_numpy()[rep],
        "post_root_id": edges["post_root_id"].to_numpy()[rep],
        "neuropil": np.array(NEUROPILS)[neuropil],
        "synapse_count": counts,
        "nt_type": edges["nt_type"].to_numpy()[rep],
    })
    assert (out["synapse_count"] >= 1).all()
    assert np.array_equal(np.bincount(rep, weights=counts, minlength=m).astype(np.int64), syn)
    return out


def build(out: Path | None = None, seed: int = 0) -> Path:
    from connectome.config import shared_data_dir

    src = shared_data_dir() / "flywire_scale_synthetic"
    edges = split_rows(pd.read_parquet(src / "edges.parquet"), seed)
    nodes = pd.read_parquet(src / "nodes.parquet")
    from connectome.ingest.release import ingest_tables

    return ingest_tables(edges, nodes, name=NAME, out=out, progress=False,
                         manifest={"title": "FlyWire-scale SYNTHETIC graph split over neuropils (performance only)",
                                   "source": {"kind": "synthetic",
                                              "generator": f"benchmarks/make_flywire_neuropil_store.py --seed {seed}"}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(build(args.out, args.seed))


if __name__ == "__main__":
    main()
