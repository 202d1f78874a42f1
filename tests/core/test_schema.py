"""Ids, counts, columns and duplicates: every bad-input path names the column and the way out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectome as cx
from connectome.errors import ColumnError, ConnectomeError, DuplicateEdgeError, IdError, InputError, SynapseCountError
from connectome.schema import coerce_ids, normalize_edges, normalize_nodes

BIG = [2**53 + 1, 648518346349538157, 720575940621039145, 2**63 - 12345, 2**63 - 1]
TOO_BIG = [2**63, 2**63 + 12345, 2**64 - 1]


def edges(pre, post, n):
    return pd.DataFrame({"pre_root_id": pre, "post_root_id": post, "synapse_count": n})


@pytest.mark.parametrize("value", BIG)
def test_big_ids_survive_as_python_ints_and_strings(value):
    assert int(coerce_ids([value], "root_id")[0]) == value
    assert int(coerce_ids([str(value)], "root_id")[0]) == value
    assert int(coerce_ids(np.array([value], dtype=np.uint64), "root_id")[0]) == value
    assert coerce_ids(np.array([value], dtype=np.uint64), "root_id").dtype == np.int64


@pytest.mark.parametrize("value", TOO_BIG)
def test_ids_of_2_63_or_more_are_refused_as_int64_cannot_hold_them(value):
    for given_as in ([value], [str(value)], np.array([value], dtype=np.uint64)):
        with pytest.raises(IdError, match=rf"root_id: id {value} is 2\*\*63 or more; root ids are int64"):
            coerce_ids(given_as, "root_id")


@given(st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=1, max_size=50))
@settings(max_examples=60, deadline=None)
def test_any_int64_id_round_trips_exactly(values):
    got = coerce_ids(pd.Series([str(v) for v in values]), "root_id")
    assert got.dtype == np.int64 and [int(x) for x in got] == values


def test_id_errors_name_the_column():
    with pytest.raises(IdError, match="pre_root_id: ids must be non-negative"):
        coerce_ids([-5], "pre_root_id")
    with pytest.raises(IdError, match="2\\*\\*63 or more"):
        coerce_ids([2**64], "root_id")
    with pytest.raises(IdError, match="2\\*\\*53"):
        coerce_ids(pd.Series([float(2**60)]), "post_root_id")
    with pytest.raises(IdError, match="missing id"):
        coerce_ids(pd.Series([1.0, np.nan]), "root_id")
    with pytest.raises(IdError, match="must be integers; found 'AVAL'"):
        coerce_ids(["AVAL"], "root_id")
    with pytest.raises(IdError, match="must be integers; found 1.5"):
        coerce_ids(pd.Series([1.5]), "root_id")


def test_small_float_ids_are_accepted_when_exact():
    assert coerce_ids(pd.Series([1.0, 7.0]), "root_id").tolist() == [1, 7]


def test_missing_and_misspelt_columns_suggest_the_fix():
    bad = pd.DataFrame({"pre_root_ids": [1], "post_root_id": [2], "synapse_count": [1]})
    with pytest.raises(ColumnError) as info:
        normalize_edges(bad)
    msg = str(info.value)
    assert "'pre_root_id' not found in edges" in msg
    assert "did you mean 'pre_root_ids'" in msg
    assert "columns=" in msg  # the way out
    assert info.value.parameter == "edges"
    with pytest.raises(ColumnError, match="'root_id' not found in nodes"):
        normalize_nodes(pd.DataFrame({"rootid": [1]}))


@pytest.mark.parametrize("counts,match", [
    ([3, -1], "counts must be >= 1; found -1"),
    ([3, 0], "counts must be >= 1; found 0"),
    ([2.5, 1.0], "counts must be integers; found 2.5"),
    ([1, None], "missing count"),
    (["a", "b"], "counts must be integers"),
])
def test_bad_synapse_counts(counts, match):
    with pytest.raises(SynapseCountError, match=match) as info:
        normalize_edges(edges([1, 2], [2, 1], counts))
    assert info.value.parameter == "synapse_count"


def test_duplicate_edges_error_then_policies():
    e = edges([1, 1, 2], [2, 2, 1], [3, 4, 5])
    with pytest.raises(DuplicateEdgeError, match="duplicates='sum'"):
        normalize_edges(e)
    summed = normalize_edges(e, duplicates="sum")
    assert summed[["pre_root_id", "post_root_id", "synapse_count"]].values.tolist() == [[1, 2, 7], [2, 1, 5]]
    first = normalize_edges(e, duplicates="first")
    assert first["synapse_count"].tolist() == [3, 5]


def test_neuropil_rows_are_not_duplicates():
    e = edges([1, 1], [2, 2], [3, 4]).assign(neuropil=["ME_R", "LO_R"])
    out = normalize_edges(e)
    assert len(out) == 2 and list(out["neuropil"]) == ["LO_R", "ME_R"]


def test_unknown_edge_kind_and_duplicate_node_ids():
    with pytest.raises(InputError, match="unknown kind 'electrical'"):
        normalize_edges(edges([1], [2], [1]).assign(edge_kind="electrical"))
    with pytest.raises(InputError, match="root_id 5 appears 2 times"):
        normalize_nodes(pd.DataFrame({"root_id": [5, 5]}))


def test_every_error_is_in_one_tree():
    for exc in (ColumnError, DuplicateEdgeError, IdError, SynapseCountError, cx.errors.StoreError,
                cx.errors.DatasetNotFoundError, cx.errors.SourceNotFoundError):
        assert issubclass(exc, ConnectomeError)


def test_from_edges_keeps_ids_up_to_2_63_on_both_paths():
    ids = [2**63 - 3, 2**63 - 2, 2**63 - 1]
    c = cx.from_edges(edges(ids, ids[1:] + ids[:1], [5, 6, 7]),
                      pd.DataFrame({"root_id": [str(i) for i in ids], "cell_type": ["a", "b", "c"]}))
    got = c.edge_table()
    assert [int(x) for x in got["pre_root_id"]] == sorted(ids)
    lazy = c.edges.compute()
    assert [int(x) for x in lazy["pre_root_id"]] == sorted(ids)
    sub = cx.subgraph(c, [ids[0], ids[1]])
    assert [int(x) for x in sub.node_table()["root_id"]] == ids[:2]
    csr = cx.to_csr(c)
    assert int(csr.ids[-1]) == 2**63 - 1 and csr.ids.dtype == np.int64
    assert int(csr.matrix[csr.index_of([ids[2]])[0], csr.index_of([ids[0]])[0]]) == 7
