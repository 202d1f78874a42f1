"""Seeded generators of release files at the real releases' shape (SYNTHETIC content, performance only).

    .venv/bin/python benchmarks/scale_data.py codex OUT.feather [--rows 16800000] [--seed 0]
    .venv/bin/python benchmarks/scale_data.py synapses OUT.feather [--rows 130000000] [--seed 0]

* ``codex``: FlyWire's ``proofread_connections_783.feather`` (Zenodo): one row per
  (pre, post, neuropil) with ``pre_pt_root_id``, ``post_pt_root_id``, ``neuropil``,
  ``syn_count``, ``gaba_avg`` ... ``da_avg``. The neuron pairs and their totals are
  those of ``../shared/data/flywire_scale_synthetic`` (2.7 M pairs over the real
  139,255 v783 ids); each pair is split over neuropils until the file has about
  ``rows`` rows (16.8 M at full size), so its pair totals equal that graph's. A
  smaller ``rows`` takes the same share of the pairs (at random).
* ``synapses``: a FlyWire-style synapse table in CAVE columns (``id``,
  ``pre_pt_root_id``, ``post_pt_root_id``, ``post_pt_position_{x,y,z}`` in 4×4×40 nm
  voxels, ``cleft_score``, ``connection_score``, ``gaba`` ... ``da``): synapses drawn
  from the same pairs in proportion to their synapse counts, placed around the
  midpoint of the two neurons' (random) centres in a fly-brain-sized box.

Both are written as Arrow IPC (feather v2, lz4) in record batches, so the
generator never holds the file in memory (130 M rows are ~9 GB on disk).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import ipc

NT = ("gaba", "ach", "glut", "oct", "ser", "da")
#: 78 neuropil-like names (FlyWire has 78 neuropils); Zipf-like frequencies.
NEUROPILS = [f"{b}_{s}" for b in ("ME", "LO", "LOP", "AME", "LA", "AL", "MB_CA", "MB_PED", "MB_VL", "MB_ML", "LH",
                                  "SLP", "SIP", "SMP", "CRE", "ICL", "IB", "ATL", "SCL", "PLP", "AVLP", "PVLP",
                                  "WED", "GOR", "SPS", "IPS", "VES", "EPA", "LAL", "BU", "AOTU", "NO", "SAD",
                                  "CAN", "FLA", "PRW", "AMMC", "EB")
             for s in ("L", "R")][:76] + ["GNG", "FB"]
BATCH = 1 << 16


def _pairs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    here = Path(__file__).resolve().parents[1]
    src = here.parent / "shared" / "data" / "flywire_scale_synthetic" / "edges.parquet"
    e = pd.read_parquet(src, columns=["pre_root_id", "post_root_id", "syn_count", "nt_type"])
    nt = e["nt_type"].astype(str).to_numpy()
    return (e["pre_root_id"].to_numpy(np.int64), e["post_root_id"].to_numpy(np.int64),
            e["syn_count"].to_numpy(np.int64), nt)


def _nt_scores(rng: np.random.Generator, nt: np.ndarray, n: int) -> np.ndarray:
    names = np.array([x.upper() for x in NT])
    main = np.searchsorted(names[np.argsort(names)], nt)
    main = np.argsort(names)[np.clip(main, 0, len(names) - 1)]
    s = rng.random((n, len(NT)), dtype=np.float32) * 0.2
    s[np.arange(n), main] += 0.8
    return s / s.sum(axis=1, keepdims=True)


def codex_connections(out: str | Path, rows: int = 16_800_000, seed: int = 0) -> dict:
    """Write the Codex-shaped connections feather; returns its row and pair counts."""
    rng = np.random.default_rng(seed)
    pre, post, syn, nt = _pairs(seed)
    frac = min(1.0, rows / 16_800_000)
    if frac < 1.0:  # a scaled-down file: the same share of the pairs, drawn at random
        pick = np.sort(rng.choice(len(pre), size=max(1, int(len(pre) * frac)), replace=False))
        pre, post, syn, nt = pre[pick], post[pick], syn[pick], nt[pick]
    m = len(pre)
    # neuropils per pair: 1 + Poisson(lam), at most syn_count and 12; lam tuned on a sample to reach ``rows``
    from scipy.stats import poisson

    u = rng.random(m)
    sub = np.linspace(0, m - 1, min(m, 50_000)).astype(np.int64)
    lam_lo, lam_hi = 0.0, 40.0
    for _ in range(25):
        lam = (lam_lo + lam_hi) / 2
        k_sub = np.minimum(np.minimum(1 + poisson.ppf(u[sub], lam).astype(np.int64), syn[sub]), 12)
        if k_sub.mean() * m < rows:
            lam_lo = lam
        else:
            lam_hi = lam
    k = np.minimum(np.minimum(1 + poisson.ppf(u, lam_hi).astype(np.int64), syn), 12)
    p = 1.0 / np.arange(1, len(NEUROPILS) + 1)
    p /= p.sum()
    schema = pa.schema([("pre_pt_root_id", pa.int64()), ("post_pt_root_id", pa.int64()), ("neuropil", pa.string()),
                        ("syn_count", pa.int64())] + [(f"{x}_avg", pa.float32()) for x in NT])
    total = 0
    with ipc.new_file(str(out), schema, options=ipc.IpcWriteOptions(compression="lz4")) as w:
        chunk = 200_000
        for a in range(0, m, chunk):
            b = min(m, a + chunk)
            kk = k[a:b]
            rep = np.repeat(np.arange(a, b), kk)
            first = np.repeat(np.cumsum(kk) - kk, kk)
            slot = np.arange(len(rep)) - first
            # distinct neuropils per pair: a Zipf-drawn start, then consecutive names
            start = rng.choice(len(NEUROPILS), size=b - a, p=p)
            npil = (start[rep - a] + slot) % len(NEUROPILS)
            share = rng.random(len(rep)) + 0.05
            share /= np.bincount(rep - a, weights=share)[rep - a]
            extra = syn[rep] - kk[rep - a]
            counts = 1 + np.floor(share * extra).astype(np.int64)
            short = syn[a:b] - np.bincount(rep - a, weights=counts, minlength=b - a).astype(np.int64)
            counts[np.cumsum(kk) - kk] += short
            scores = _nt_scores(rng, nt[rep], len(rep))
            cols = [pa.array(pre[rep].astype(np.int64)), pa.array(post[rep].astype(np.int64)),
                    pa.array(np.array(NEUROPILS, dtype=object)[npil]), pa.array(counts)]
            cols += [pa.array(scores[:, i]) for i in range(len(NT))]
            tbl = pa.Table.from_arrays(cols, schema=schema)
            for batch in tbl.to_batches(max_chunksize=BATCH):
                w.write_batch(batch)
            total += len(rep)
    return {"rows": int(total), "pairs": int(m), "synapses": int(syn.sum())}


def synapse_table(out: str | Path, rows: int = 130_000_000, seed: int = 0, chunk: int = 2_000_000) -> dict:
    """Write the FlyWire-style synapse feather in chunks; returns its row count."""
    rng = np.random.default_rng(seed)
    pre, post, syn, nt = _pairs(seed)
    ids = np.unique(np.concatenate([pre, post]))
    # neuron centres in a fly-brain-sized box, voxels of 4 x 4 x 40 nm: 1 mm x 0.5 mm x 0.3 mm
    box = np.array([250_000, 125_000, 7_500], np.float64)
    centre = rng.random((len(ids), 3)) * box
    ci_pre = np.searchsorted(ids, pre)
    ci_post = np.searchsorted(ids, post)
    cdf = np.cumsum(syn / syn.sum())
    spread = np.array([5_000, 5_000, 500], np.float64)  # ~20 µm
    schema = pa.schema([("id", pa.int64()), ("pre_pt_root_id", pa.int64()), ("post_pt_root_id", pa.int64()),
                        ("post_pt_position_x", pa.int32()), ("post_pt_position_y", pa.int32()),
                        ("post_pt_position_z", pa.int32()), ("cleft_score", pa.int16()),
                        ("connection_score", pa.float32())] + [(x, pa.float32()) for x in NT])
    done = 0
    with ipc.new_file(str(out), schema, options=ipc.IpcWriteOptions(compression="lz4")) as w:
        while done < rows:
            n = min(chunk, rows - done)
            j = np.minimum(np.searchsorted(cdf, rng.random(n)), len(cdf) - 1)
            mid = (centre[ci_pre[j]] + centre[ci_post[j]]) / 2
            pos = np.clip(mid + rng.normal(0, 1, (n, 3)) * spread, 0, box - 1).astype(np.int32)
            scores = _nt_scores(rng, nt[j], n)
            cols = [pa.array(np.arange(done + 1, done + n + 1, dtype=np.int64)),
                    pa.array(pre[j].astype(np.int64)), pa.array(post[j].astype(np.int64)),
                    pa.array(pos[:, 0]), pa.array(pos[:, 1]), pa.array(pos[:, 2]),
                    pa.array(rng.integers(50, 200, n).astype(np.int16)),
                    pa.array(rng.random(n, dtype=np.float32) * 500)]
            cols += [pa.array(scores[:, i]) for i in range(len(NT))]
            for batch in pa.Table.from_arrays(cols, schema=schema).to_batches(max_chunksize=BATCH):
                w.write_batch(batch)
            done += n
    return {"rows": int(done)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["codex", "synapses"])
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t0 = time.perf_counter()
    if a.what == "codex":
        info = codex_connections(a.out, a.rows or 16_800_000, a.seed)
    else:
        info = synapse_table(a.out, a.rows or 130_000_000, a.seed)
    print({**info, "seconds": round(time.perf_counter() - t0, 1), "bytes": a.out.stat().st_size})


if __name__ == "__main__":
    main()
