"""The routers of the HTTP service, one per resource; all paths start with ``/v1``."""

from __future__ import annotations

__all__ = ["meta", "datasets", "statistics", "motifs", "jobs", "models", "links"]
