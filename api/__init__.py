"""api — the HTTP analysis service (FastAPI): a thin layer over connectome, ingest and gnn.

``connectome serve`` runs it with uvicorn on 127.0.0.1:8000; ``create_app(Settings(...))``
builds the app for your own server. Modules: :mod:`connectome.api.app` (the app), :mod:`connectome.api.routers`
(one router per resource), :mod:`connectome.api.schemas` (bodies), :mod:`connectome.api.auth` (tokens, dataset
policies), :mod:`connectome.api.deps` (who is calling, dataset access), :mod:`connectome.api.jobs` (durable jobs on
Dask), :mod:`connectome.api.tasks` (what a job runs), :mod:`connectome.api.limits`, :mod:`connectome.api.errors`,
:mod:`connectome.api.cache`, :mod:`connectome.api.catalog`, :mod:`connectome.api.settings`, :mod:`connectome.api.cli`,
:mod:`connectome.api.testing` (a real server in a subprocess, a load runner).

``from connectome import api`` is cheap: nothing below is imported until used.

Examples
--------
>>> from connectome import api
>>> api.Settings(data_root="/tmp/cx-service").cluster
'local'
"""

from __future__ import annotations

from connectome.plugins import lazy_exports

__all__ = ["create_app", "Settings", "ServiceProcess"]

_EXPORTS = {"create_app": "app", "Settings": "settings", "ServiceProcess": "testing"}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=())
