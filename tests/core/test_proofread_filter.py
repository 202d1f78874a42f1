"""``cx.proofread_edges``: the "presynaptic axon proofread" filter of MICrONS analyses (issue 15, item 5),
on the pandas and the Dask path, and its refusals."""

from __future__ import annotations

import pandas as pd
import pytest

import connectome as cx
from connectome.errors import ColumnError, InputError

EDGES = pd.DataFrame({"pre_root_id": [1, 1, 2, 3, 4], "post_root_id": [2, 3, 3, 4, 1],
                      "synapse_count": [5, 6, 7, 8, 9]})
STATUS = pd.DataFrame({"root_id": [1, 2, 3, 4], "axon_proofread": [True, False, True, False],
                       "dendrite_proofread": [False, True, True, False]})


def pairs(c):
    return sorted(map(tuple, c.edge_table()[["pre_root_id", "post_root_id"]].astype(int).values.tolist()))


@pytest.mark.parametrize("lazy", [False, True], ids=["pandas", "dask"])
def test_keeps_edges_of_proofread_axons_and_dendrites(lazy):
    c = cx.from_edges(EDGES).with_node_columns(STATUS)
    c = c.lazy() if lazy else c
    assert pairs(cx.proofread_edges(c)) == [(1, 2), (1, 3), (3, 4)]
    assert pairs(cx.proofread_edges(c, axon=True, dendrite=True)) == [(1, 2), (1, 3)]
    assert pairs(cx.proofread_edges(c, axon=False, dendrite=True)) == [(1, 2), (1, 3), (2, 3)]
    assert cx.proofread_edges(c).n_nodes == 4


def test_refusals_name_the_way_out():
    c = cx.from_edges(EDGES)
    with pytest.raises(ColumnError, match="add_proofreading") as exc:
        cx.proofread_edges(c)
    assert exc.value.column == "axon_proofread"
    only_axon = c.with_node_columns(STATUS[["root_id", "axon_proofread"]])
    with pytest.raises(ColumnError, match="dendrite_proofread"):
        cx.proofread_edges(only_axon, dendrite=True)
    with pytest.raises(InputError, match="at least one"):
        cx.proofread_edges(only_axon, axon=False)
    with pytest.raises(InputError, match="True or False"):
        cx.proofread_edges(only_axon, axon="yes")
    texty = c.with_node_columns(STATUS.assign(axon_proofread=["t", "f", "t", "f"]), overwrite=True)
    with pytest.raises(InputError, match="must be boolean"):
        cx.proofread_edges(texty)
