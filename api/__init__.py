"""api — the HTTP analysis service (FastAPI): a thin layer over connectome, ingest and gnn.

``connectome serve`` runs it with uvicorn on 127.0.0.1:8000; ``create_app(Settings(...))``
builds the app for your own server. Modules: :mod:`api.app` (the app), :mod:`api.routers`
(one router per resource), :mod:`api.schemas` (bodies), :mod:`api.auth` (tokens, dataset
policies), :mod:`api.deps` (who is calling, dataset access), :mod:`api.jobs` (durable jobs on
Dask), :mod:`api.tasks` (what a job runs), :mod:`api.limits`, :mod:`api.errors`,
:mod:`api.cache`, :mod:`api.catalog`, :mod:`api.settings`, :mod:`api.cli`,
:mod:`api.testing` (a real server in a subprocess, a load runner).

``import api`` is cheap: nothing below is imported until used.

Examples
--------
>>> import api
>>> api.Settings(data_root="/tmp/cx-service").cluster
'local'
"""

from __future__ import annotations

from connectome.plugins import lazy_exports

__all__ = ["create_app", "Settings", "ServiceProcess"]

_EXPORTS = {"create_app": "app", "Settings": "settings", "ServiceProcess": "testing"}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=())
