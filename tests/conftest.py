"""Shared fixtures: an isolated data home, the shared real data, a real LocalCluster."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def data_home(tmp_path_factory, monkeypatch):
    """Every test gets its own CONNECTOME_HOME; nothing touches ~/.local."""
    home = tmp_path_factory.mktemp("cx-home")
    monkeypatch.setenv("CONNECTOME_HOME", str(home))
    monkeypatch.setenv("CONNECTOME_PROGRESS", "0")
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; its absence is a broken checkout, not a reason to skip."""
    from connectome.config import shared_data_dir

    d = shared_data_dir()
    assert (d / "drosophila_larva_winding2023" / "edges.parquet").is_file(), (
        f"shared data not found at {d}: clone the project with ../shared beside it "
        "or set CONNECTOME_SHARED_DATA"
    )
    return d


@pytest.fixture(scope="session")
def cluster_client():
    """A real dask.distributed LocalCluster with 2 process workers."""
    from connectome.scheduler import close_client, close_clients, local_cluster

    client = local_cluster(n_workers=2, threads_per_worker=1)
    try:
        yield client
    finally:
        close_clients()  # clients that connected by address go first
        close_client(client)


@pytest.fixture(scope="session")
def larva_store(tmp_path_factory, shared_data) -> Path:
    """The larva converted once per session."""
    from connectome.ingest.larva import ingest_larva

    return ingest_larva(shared_data / "drosophila_larva_winding2023",
                        out=tmp_path_factory.mktemp("larva") / "store", progress=False)

