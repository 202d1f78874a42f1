"""api — the HTTP analysis service (FastAPI): a thin layer over connectome, ingest and gnn."""
