"""Loopback servers for tests, benchmarks and your own test suites.

* :class:`CaveTestServer` speaks the CAVE protocol that ``caveclient`` uses
  (info service, materialization engine with Arrow IPC replies, chunkedgraph
  root lookups) on ``127.0.0.1``, serves synthetic FlyWire-, MICrONS- and
  generic datastacks (:mod:`connectome.ingest.testing.cave_data`) and injects faults on
  request: 5xx replies, timeouts, dropped connections, truncated Arrow streams,
  new or expired materialization versions.
* :class:`PrecomputedServer` serves a Neuroglancer-precomputed folder over HTTP
  the way cloud storage does (``X.gz`` files with ``Content-Encoding: gzip``),
  so CloudVolume reads ``precomputed://http://127.0.0.1:PORT/...``.

Nothing here touches the network beyond loopback; the real client libraries
talk to these servers unchanged.

Examples
--------
>>> from connectome.ingest.testing import CaveTestServer, generic_datastack
>>> with CaveTestServer([generic_datastack(n_synapses=50)]) as srv:
...     srv.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

from .cave_data import (
    Chunkedgraph,
    Datastack,
    SynthTable,
    flywire_datastack,
    generic_datastack,
    microns_datastack,
)
from .cave_server import CaveTestServer, Fault
from .precomputed_server import PrecomputedServer

__all__ = [
    "CaveTestServer",
    "Fault",
    "PrecomputedServer",
    "Datastack",
    "SynthTable",
    "Chunkedgraph",
    "flywire_datastack",
    "microns_datastack",
    "generic_datastack",
]
