"""The private corners of caveclient that connectome.ingest.cave uses (ingest/cave/_compat.py), checked against the
installed caveclient: an upgrade that moves them fails here, by name, not deep inside an ingest."""

from __future__ import annotations

import caveclient  # a pinned dependency: a missing caveclient must fail, not skip
import pytest

from connectome.ingest.cave._compat import TESTED_WITH, token_file, uncached_versions_metadata
from connectome.ingest.cave.options import FetchOptions
from connectome.ingest.cave.session import connect, retry_policy
from connectome.ingest.testing import CaveTestServer, microns_datastack


def test_get_versions_metadata_still_has_the_uncached_function_under_its_cache():
    from caveclient.materializationengine import MaterializationClient

    wrapped = getattr(MaterializationClient.get_versions_metadata, "__wrapped__", None)
    assert callable(wrapped), (f"caveclient {caveclient.__version__} changed MaterializationClient."
                               f"get_versions_metadata (checked with {TESTED_WITH}): update ingest/cave/_compat.py")


def test_auth_client_still_says_where_it_looks_for_a_token(tmp_path):
    from caveclient.auth import AuthClient

    f = tmp_path / "my-secret.json"
    ac = AuthClient(token_file=str(f), server_address="https://cave.example.org")
    assert hasattr(ac, "_token_file"), f"caveclient {caveclient.__version__} no longer has AuthClient._token_file"
    assert token_file(ac) == str(f)


def test_uncached_metadata_sees_a_version_expire_the_cached_call_does_not():
    with CaveTestServer([microns_datastack(300, 20, seed=41)]) as srv:
        session = connect("minnie65_public", srv.url, options=FetchOptions(retries=0))
        mat = session.materialize
        before = {int(m["version"]) for m in mat.get_versions_metadata()}  # fills caveclient's 12-hour cache
        assert 661 in before
        srv.expire_version("minnie65_public", 661)
        assert 661 in {int(m["version"]) for m in mat.get_versions_metadata()}  # the cache still says so
        assert 661 not in {int(m["version"]) for m in uncached_versions_metadata(mat)}
        assert 661 in {int(m["version"]) for m in uncached_versions_metadata(mat, expired=True)}


def test_our_retry_has_the_shape_caveclient_gives_its_sessions():
    """retry_policy builds what caveclient.set_session_defaults would, for one client: same methods and
    status handling, our counts and status list."""
    import requests
    from caveclient.session_config import _patch_session

    s = requests.Session()
    _patch_session(s, max_retries=3)
    theirs = s.get_adapter("https://x").max_retries
    ours = retry_policy(FetchOptions(retries=3, backoff=0.2, max_backoff=2.0))
    assert ours.allowed_methods == theirs.allowed_methods and ours.raise_on_status == theirs.raise_on_status
    assert (ours.total, ours.backoff_factor, ours.backoff_max) == (3, 0.2, 2.0)
    assert set(theirs.status_forcelist) <= set(ours.status_forcelist)
