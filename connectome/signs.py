"""Signed connectivity: a sign per synapse from the presynaptic transmitter.

The transmitter → sign table is always a parameter (``signs=``); the defaults are per species
and stated here, never hidden:

:data:`FLY_SIGNS` (*Drosophila*, FlyWire / larva)
    ``ACH`` +1, ``GABA`` −1, ``GLUT`` −1 (glutamate acts through the glutamate-gated chloride
    channel GluCl in the fly central brain, Liu & Wilson 2013, and is treated as inhibitory in
    FlyWire analyses: Lin et al. 2024, Pospisil et al. 2024), monoamines ``SER``, ``DA``,
    ``OCT``, ``TYR`` and ``HIST`` 0 (modulatory or receptor-dependent: set them if you know).
    Transmitters as predicted by Eckstein et al. 2024 (FlyWire ``nt_type``, or the highest of
    the ``*_avg`` scores).
:data:`CELEGANS_SIGNS` (*C. elegans*)
    From the transmitter atlas in the store (Wang et al. 2024, eLife, node column ``nt_type``):
    ``ACH`` +1, ``GABA`` −1; ``GLUT`` 0 because glutamate excites through GLR receptors and
    inhibits through GluCl (AVR-14, GLC) depending on the postsynaptic cell (Fenyves et al.
    2020); ``SER``, ``DA``, ``TYR``, ``OCT``, ``BETAINE`` 0.

Where the transmitter comes from, in order: a row-level ``nt_type`` edge column (each row keeps
its own sign, so a pair's signed weight is Σ sign × synapses over its rows); the highest of
the edge ``*_avg`` columns (FlyWire's per-connection scores); the presynaptic neuron's node
``nt_type``. Missing transmitters give sign 0 with a warning (and in the result's metadata);
a transmitter of the store that the table lacks is an error (:class:`~connectome.errors.SignTableError`).

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> s = cx.signed_pairs(c)
>>> s.transmitter_source, sorted(s.signs.items())[:3]
('nodes:nt_type', [('ACH', 1.0), ('BETAINE', 0.0), ('DA', 0.0)])
>>> cx.signed_pairs(c, signs={"ACH": 1, "GABA": -1})
Traceback (most recent call last):
...
connectome.errors.SignTableError: signs: no sign for transmitter(s) 'BETAINE', 'DA', 'GLUT', 'SER' found in celegans_cook2019_herm (nodes:nt_type); add them, e.g. signs={**cx.CELEGANS_SIGNS, 'BETAINE': 0}
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import ColumnError, SignTableError
from .graph import Connectome
from .pathgraph import PairGraph, check_edge_kind, pair_graph
from .schema import EDGE_KIND, ID_DTYPE, NT_TYPE, POST, PRE, ROOT_ID, SYNAPSE_COUNT

logger = logging.getLogger(__name__)

__all__ = ["FLY_SIGNS", "CELEGANS_SIGNS", "SignedPairs", "signed_pairs", "default_signs", "TRANSMITTER_SCORES"]

#: Transmitter → sign for *Drosophila* (FlyWire, hemibrain, larva); see the module notes.
FLY_SIGNS: dict[str, float] = {"ACH": 1.0, "GABA": -1.0, "GLUT": -1.0, "SER": 0.0, "DA": 0.0, "OCT": 0.0,
                               "TYR": 0.0, "HIST": 0.0}
#: Transmitter → sign for *C. elegans* (Wang et al. 2024 atlas); see the module notes.
CELEGANS_SIGNS: dict[str, float] = {"ACH": 1.0, "GABA": -1.0, "GLUT": 0.0, "SER": 0.0, "DA": 0.0, "TYR": 0.0,
                                    "OCT": 0.0, "BETAINE": 0.0}
#: FlyWire per-connection transmitter score columns and the transmitter each stands for.
TRANSMITTER_SCORES = {"ach_avg": "ACH", "gaba_avg": "GABA", "glut_avg": "GLUT", "oct_avg": "OCT",
                      "ser_avg": "SER", "da_avg": "DA"}


def default_signs(c: Connectome) -> tuple[dict[str, float], str]:
    """The documented default sign table for ``c``'s species, and its name.

    Examples
    --------
    >>> import connectome as cx
    >>> default_signs(cx.load("celegans_cook2019_herm"))[1]
    'CELEGANS_SIGNS'
    """
    species = (c.manifest.species or "").lower()
    if "elegans" in species:
        return dict(CELEGANS_SIGNS), "CELEGANS_SIGNS"
    if "drosophila" in species or "fly" in species or c.name.startswith("flywire"):
        return dict(FLY_SIGNS), "FLY_SIGNS"
    raise SignTableError(f"signs: no default sign table for species {c.manifest.species!r} of {c.name}; pass "
                         "signs={'ACH': 1, 'GABA': -1, ...} (cx.FLY_SIGNS and cx.CELEGANS_SIGNS are the "
                         "documented defaults)", "signs")


@dataclass(frozen=True)
class SignedPairs:
    """Signed synapse counts of a pair graph's edges.

    Attributes
    ----------
    graph : PairGraph
        The (unsigned) pair graph whose edges these are.
    signed : numpy.ndarray of float64
        Σ sign × synapses over each pair's rows (aligned with ``graph.src/dst``).
    signs : dict
        The transmitter → sign table used.
    table : str
        Its name (``FLY_SIGNS``, ``CELEGANS_SIGNS`` or ``user``).
    transmitter_source : str
        Where transmitters came from (``edges:nt_type``, ``edges:*_avg``, ``nodes:nt_type``).
    unsigned_synapses : int
        Synapses without a transmitter (sign 0).
    warnings : list of str
    """

    graph: PairGraph
    signed: np.ndarray
    signs: dict[str, float]
    table: str
    transmitter_source: str
    unsigned_synapses: int = 0
    warnings: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        """What a result should record about its signs."""
        return {"signs": dict(self.signs), "sign_table": self.table, "transmitter_source": self.transmitter_source,
                "unsigned_synapses": int(self.unsigned_synapses)}


def _check_table(signs: Mapping[str, Any]) -> dict[str, float]:
    if not isinstance(signs, Mapping):
        raise SignTableError(f"signs must be a mapping transmitter -> sign (e.g. cx.FLY_SIGNS), not "
                             f"{type(signs).__name__}", "signs")
    out = {}
    for k, v in signs.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise SignTableError(f"signs: the sign of {k!r} must be a finite number (+1, -1, 0 or a weight), "
                                 f"not {v!r}", "signs")
        out[str(k).upper()] = float(v)
    return out


def _transmitters(c: Connectome, edge_kind: str | None) -> tuple[pd.DataFrame, str]:
    """Edge rows (pre, post, synapses, transmitter) of the kind, and where transmitters came from."""
    cols = c.edge_columns
    base = [PRE, POST, SYNAPSE_COUNT] + ([EDGE_KIND] if EDGE_KIND in cols else [])
    scores = [x for x in TRANSMITTER_SCORES if x in cols]
    if NT_TYPE in cols:
        e = c.edge_table(base + [NT_TYPE])
        src = "edges:nt_type"
        nt = e[NT_TYPE]
    elif scores:
        e = c.edge_table(base + scores)
        src = "edges:*_avg"
        vals = e[scores].to_numpy(dtype=np.float64)
        best = np.nanargmax(np.where(np.isnan(vals), -np.inf, vals), axis=1)
        none = np.isnan(vals).all(axis=1)
        nt = pd.Series(np.array([TRANSMITTER_SCORES[s] for s in scores], dtype=object)[best], index=e.index)
        nt[none] = None
    elif NT_TYPE in c.label_columns:
        e = c.edge_table(base)
        src = "nodes:nt_type"
        nodes = c.node_table([ROOT_ID, NT_TYPE])
        lut = pd.Series(nodes[NT_TYPE].to_numpy(dtype=object), index=nodes[ROOT_ID].to_numpy(dtype=ID_DTYPE))
        nt = pd.Series(lut.reindex(e[PRE].to_numpy(dtype=ID_DTYPE)).to_numpy(), index=e.index)
    else:
        raise ColumnError("edges", NT_TYPE, cols, f"{c.name} has no transmitter: signed analyses need an edge or "
                          "node column nt_type (or FlyWire's *_avg edge scores); add one with "
                          "c.with_node_columns(table_with_root_id_and_nt_type)")
    if edge_kind is not None and EDGE_KIND in e.columns:
        keep = (e[EDGE_KIND] == edge_kind).to_numpy()
        e, nt = e[keep], nt[keep]
    cat = pd.Categorical(nt)
    out = pd.DataFrame({PRE: e[PRE].to_numpy(), POST: e[POST].to_numpy(),
                        SYNAPSE_COUNT: e[SYNAPSE_COUNT].to_numpy(np.int64), "code": cat.codes})
    return out, [str(x) for x in cat.categories], src


def signed_pairs(c: Connectome, signs: Mapping[str, Any] | None = None, *, edge_kind: str | None = "chemical",
                 min_synapses: int | None = None, graph: PairGraph | None = None) -> SignedPairs:
    """Signed synapse counts (Σ sign × synapses) of every neuron pair.

    Parameters
    ----------
    c : Connectome
    signs : mapping, optional
        Transmitter → sign (+1, −1, 0 or any finite weight). Default: the species' documented table
        (:data:`FLY_SIGNS`, :data:`CELEGANS_SIGNS`); the table used is in the result.
    edge_kind : str or None
        Edge kind (default chemical; gap junctions carry no transmitter).
    min_synapses : int, optional
        Pairs below this many synapses (unsigned, summed over rows) are dropped, as in
        :func:`connectome.pair_arrays.directed_pairs`.
    graph : PairGraph, optional
        The pair graph to align with (default ``pair_graph(c, edge_kind, min_synapses)``).

    Returns
    -------
    SignedPairs

    Raises
    ------
    SignTableError
        The table misses a transmitter of the store, or holds a value that is not a number.
    ColumnError
        The store has no transmitter at all.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> s = cx.signed_pairs(c, signs={**cx.CELEGANS_SIGNS, "GLUT": -1})
    >>> bool((s.signed < 0).sum() > 0), s.table
    (True, 'user')
    """
    check_edge_kind(edge_kind)
    if signs is None:
        table, name = default_signs(c)
    else:
        table, name = _check_table(signs), "user"
    g = graph if graph is not None else pair_graph(c, edge_kind=edge_kind, min_synapses=min_synapses)
    key = ("signed_rows", edge_kind)
    rows, present, src = c.memo(key, lambda: _transmitters(c, edge_kind))
    upper = [t.upper() for t in present]
    missing = sorted({u for u in upper if u not in table})
    if missing:
        shown = ", ".join(repr(t) for t in missing)
        base = "cx.FLY_SIGNS" if name != "CELEGANS_SIGNS" and "elegans" not in (c.manifest.species or "").lower() \
            else "cx.CELEGANS_SIGNS"
        raise SignTableError(f"signs: no sign for transmitter(s) {shown} found in {c.name} ({src}); add them, e.g. "
                             f"signs={{**{base}, {missing[0]!r}: 0}}", "signs")
    lut = np.array([table[u] for u in upper] + [0.0], dtype=np.float64)  # code -1 (missing) -> 0
    code = rows["code"].to_numpy()
    sgn = lut[np.where(code < 0, len(upper), code)]
    syn = rows[SYNAPSE_COUNT].to_numpy(np.int64)
    notes: list[str] = []
    unsigned = int(syn[code < 0].sum())
    if unsigned:
        frac = unsigned / max(int(syn.sum()), 1)
        msg = (f"{unsigned:,} synapses ({frac:.1%}) of {c.name} have no transmitter ({src}); they count with sign 0 "
               "in signed analyses")
        notes.append(msg)
        logger.warning(msg)
    ids = g.ids
    pre = np.searchsorted(ids, rows[PRE].to_numpy(dtype=ID_DTYPE)).astype(np.int64)
    post = np.searchsorted(ids, rows[POST].to_numpy(dtype=ID_DTYPE)).astype(np.int64)
    rkey = pre * np.int64(g.n) + post
    gkey = g.src * np.int64(g.n) + g.dst
    pos = np.searchsorted(gkey, rkey)
    pos_c = np.clip(pos, 0, max(len(gkey) - 1, 0))
    hit = (gkey[pos_c] == rkey) if len(gkey) else np.zeros(len(rkey), bool)
    signed = np.bincount(pos_c[hit], weights=(sgn * syn)[hit], minlength=g.m).astype(np.float64)
    return SignedPairs(g, signed, table, name, src, unsigned, notes)
