"""Issue 29 item 1: a motif query holds at most the server's ``motif_memory`` while it runs; above it,
422 ``query_too_large`` with the estimate (bytes), and the next query is served."""

from __future__ import annotations

import pytest

from helpers import InProcessServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(r"ignore:Exception ignored in.*dotmotif.*grammar\.lark:pytest.PytestUnraisableExceptionWarning"),
]

DS = "celegans_cook2019_herm"
CHAIN8 = "\n".join(f"N{i} -> N{i + 1}" for i in range(7))


@pytest.fixture(params=[1 << 20, 256], ids=["1MiB", "256B"])
def srv(request, tmp_path, monkeypatch):
    from connectome.api.settings import Settings

    monkeypatch.setenv("CONNECTOME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONNECTOME_PROGRESS", "0")
    with InProcessServer(Settings(data_root=tmp_path / "svc", cluster="threads", workers=1,
                                  motif_memory=request.param)) as s:
        s.alice = s.service.tokens.create("alice").token
        yield s


def _refused(r, limit: int) -> dict:
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "query_too_large" and err["field"] == "query", err
    assert err["limit"] == limit and err["estimate"] > limit, err
    assert "over this server's motif memory budget of" in err["message"] and "add constraints" in err["message"]
    assert "memory=" not in err["message"]  # a library argument the client cannot pass
    return err


def test_motif_queries_over_the_servers_memory_budget_are_422(srv):
    limit = srv.service.settings.motif_memory
    with srv.client(srv.alice) as c:
        # the matches of an 8-node chain would be kept (up to max_matches): refused as they pass the budget
        _refused(c.post(f"/v1/datasets/{DS}/motifs/matches", json={"query": CHAIN8, "timeout_s": 60}), limit)
        if limit == 256:  # not even one binding per level fits: a count is refused too
            _refused(c.post(f"/v1/datasets/{DS}/motifs/count", json={"query": CHAIN8, "timeout_s": 60}), limit)
        r = c.post(f"/v1/datasets/{DS}/motifs/count", json={"query": "A -> B\nB -> A", "timeout_s": 60})
        if limit != 256:  # the next query is served
            assert r.status_code == 200 and r.json()["count"] == 1338, r.text
