"""Datasets the ``ingest`` package can build offline (entry point ``connectome.datasets``).

``connectome.datasets()`` lists them with ``location="buildable"``;
``connectome.load(name)`` converts one into the data home on first use.

Examples
--------
>>> names = {e.name for e in providers()}
>>> {"celegans_cook2019_male", "drosophila_larva_winding2023"} <= names
True
"""

from __future__ import annotations

from pathlib import Path

from connectome.config import shared_data_dir
from connectome.registry import DatasetEntry

from .celegans import CELEGANS_DATASETS, SPECIES, ingest_celegans
from .larva import LARVA_NAME, ingest_larva, larva_dir
from .release import FLYWIRE_SPECIES, ingest_codex, ingest_tables

__all__ = ["providers", "FLYWIRE_LABELS", "FLYWIRE_SYNTHETIC"]

FLYWIRE_LABELS = "flywire_v783_neurons"
FLYWIRE_SYNTHETIC = "flywire_scale_synthetic"


def _rows(path: Path) -> int | None:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except OSError:
        return None


def _build_synthetic(out: Path, progress: bool | None) -> Path:
    folder = shared_data_dir() / FLYWIRE_SYNTHETIC
    return ingest_tables(
        folder / "edges.parquet", folder / "nodes.parquet", name=FLYWIRE_SYNTHETIC, out=out,
        manifest={
            "title": "FlyWire-scale SYNTHETIC graph (real v783 neurons, synthetic edges; performance work only)",
            "species": FLYWIRE_SPECIES,
            "source": {"kind": "synthetic", "generator": "../shared/bench/make_flywire_scale.py"},
            "extra": {"warning": "edges are synthetic; results say nothing about fly biology"},
        },
        progress=progress,
    )


def providers() -> list[DatasetEntry]:
    """Buildable datasets: the C. elegans datasets of cect and the shared real data."""
    out = [
        DatasetEntry(name=name, species=SPECIES, title=spec.title, source=spec.citation,
                     build=lambda p, prog, _n=name: ingest_celegans(_n, p, progress=prog))
        for name, spec in CELEGANS_DATASETS.items()
    ]
    shared = shared_data_dir()
    if (larva_dir() / "edges.parquet").is_file():
        out.append(DatasetEntry(
            name=LARVA_NAME, species="Drosophila melanogaster (larva)",
            title="Larval Drosophila brain, Winding et al. 2023", source="Winding et al. 2023, Science",
            nodes=_rows(larva_dir() / "nodes.parquet"), edges=_rows(larva_dir() / "edges.parquet"),
            build=lambda p, prog: ingest_larva(out=p, progress=prog)))
    labels = shared / "flywire_v783_labels" / "neurons_v783.parquet"
    if labels.is_file():
        out.append(DatasetEntry(
            name=FLYWIRE_LABELS, species=FLYWIRE_SPECIES, title="FlyWire v783 neurons (labels only, no edges)",
            source="FlyWire Codex v783 classification", nodes=_rows(labels), edges=0,
            build=lambda p, prog: ingest_codex(neurons=labels, name=FLYWIRE_LABELS, out=p, version="783",
                                               progress=prog)))
    syn = shared / FLYWIRE_SYNTHETIC
    if (syn / "edges.parquet").is_file():
        out.append(DatasetEntry(
            name=FLYWIRE_SYNTHETIC, species=FLYWIRE_SPECIES,
            title="FlyWire-scale synthetic graph (performance work only)", source="synthetic",
            nodes=_rows(syn / "nodes.parquet"), edges=_rows(syn / "edges.parquet"), build=_build_synthetic))
    return out
