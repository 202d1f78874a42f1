"""C. elegans connectomes from OpenWorm's ``cect`` (C. elegans Connectome Toolbox).

Each anatomical dataset of ``cect`` whose weights are synapse counts (Cook
2019 hermaphrodite and male, White 1986 variants, Varshney 2011, Witvliet 2021
1–8) becomes a store with:

- nodes: ``name`` (AVAL), ``cell_type`` (the cell class, AVAL → AVA),
  ``super_class`` (sensory / interneuron / motor for neurons, muscle, other),
  ``cell_category`` (neuron / muscle / other), ``side`` (left / right / center),
  ``nt_type`` (primary transmitter, FlyWire codes ACH, GLUT, GABA, DA, SER, OCT,
  TYR, BETAINE) and ``nt_all`` (every transmitter listed) from the neurotransmitter
  atlas of Wang et al. 2024, and ``pharyngeal``;
- edges: chemical synapses and gap junctions kept apart in ``edge_kind``. Gap
  junctions are symmetric: each appears in both directions with the same count.

``root_id`` of a cell is a stable hash of its name (below 2**53), so AVAL has
the same id in every C. elegans dataset.

Not converted: Cook 2020 (pharynx; its weights are EM section counts, some
fractional, not synapse counts), Wang 2024 (Cook 2019 binarised and labelled by
transmitter plus Bentley 2016's extrasynaptic monoamine network; its
neurotransmitter atlas is used for ``nt_type`` instead), and the functional,
contact and peptide networks.

Cook et al. 2019's own cell list has 473 cells; the ``cect`` cache it ships is
read with ``from_cache=True`` (offline, well under a second).

Examples
--------
>>> from connectome.ingest.celegans import cell_class
>>> [cell_class(n) for n in ["AVAL", "RMDDL", "IL1VR", "DA01", "SABD", "AVL", "I1L", "MDL05"]]
['AVA', 'RMD', 'IL1', 'DA', 'SAB', 'AVL', 'I1', 'BWM']
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from connectome.config import data_home
from connectome.errors import DatasetNotFoundError, DependencyError
from connectome.manifest import Manifest
from connectome.schema import (
    CHEMICAL,
    EDGE_KIND,
    GAP_JUNCTION,
    POST,
    PRE,
    ROOT_ID,
    SYNAPSE_COUNT,
    name_ids,
    normalize_edges,
    normalize_nodes,
)
from connectome.store import write_tables

logger = logging.getLogger(__name__)

__all__ = ["CELEGANS_DATASETS", "CectDataset", "cell_class", "cell_labels", "convert", "ingest_celegans",
           "SPECIES", "ID_NAMESPACE"]

SPECIES = "Caenorhabditis elegans"
ID_NAMESPACE = "celegans"
_WANG = ("Wang C, Vidal B, Sural S, et al. (2024) A neurotransmitter atlas of C. elegans males and "
         "hermaphrodites. eLife 13:RP95402")
_COOK19 = "Cook SJ, Jarrell TA, Brittin CA, et al. (2019) Whole-animal connectomes of both Caenorhabditis elegans sexes. Nature 571:63-71"
_WHITE = ("White JG, Southgate E, Thomson JN, Brenner S (1986) The structure of the nervous system of the "
          "nematode Caenorhabditis elegans. Phil Trans R Soc Lond B 314:1-340")
_WITV = ("Witvliet D, Mulcahy B, Mitchell JK, et al. (2021) Connectomes across development reveal principles "
         "of brain maturation. Nature 596:257-261")


@dataclass(frozen=True)
class CectDataset:
    """How one ``cect`` dataset maps to a store."""

    cect_name: str
    title: str
    citation: str
    sex: str = "hermaphrodite"
    note: str = ""


CELEGANS_DATASETS: dict[str, CectDataset] = {
    "celegans_cook2019_herm": CectDataset(
        "Cook2019Herm", "C. elegans hermaphrodite, Cook et al. 2019 (chemical synapses and gap junctions)", _COOK19),
    "celegans_cook2019_male": CectDataset(
        "Cook2019Male", "C. elegans male, Cook et al. 2019 (chemical synapses and gap junctions)", _COOK19, "male"),
    "celegans_white1986_whole": CectDataset(
        "White_whole", "C. elegans hermaphrodite, White et al. 1986 (whole animal)", _WHITE),
    "celegans_white1986_n2u": CectDataset(
        "WhiteN2U", "C. elegans hermaphrodite, White et al. 1986 (N2U series)", _WHITE),
    "celegans_white1986_jsh": CectDataset(
        "WhiteJSH", "C. elegans L4 male head, White et al. 1986 (JSH series)", _WHITE),
    "celegans_varshney2011": CectDataset(
        "Varshney", "C. elegans hermaphrodite, Varshney et al. 2011",
        "Varshney LR, Chen BL, Paniagua E, Hall DH, Chklovskii DB (2011) Structural properties of the "
        "Caenorhabditis elegans neuronal network. PLoS Comput Biol 7:e1001066"),
    **{
        f"celegans_witvliet2021_{i}": CectDataset(
            f"Witvliet{i}", f"C. elegans hermaphrodite brain, Witvliet et al. 2021, dataset {i} of 8 "
            "(developmental series, 1 = youngest)", _WITV)
        for i in range(1, 9)
    },
}

#: Classes whose members differ by a dorsal/ventral letter before L/R (WormAtlas).
_DV_CLASSES = frozenset({"CEP", "CEM", "CEPsh", "GLR", "IL1", "IL2", "OLQ", "RMD", "RME", "SAA", "SAB",
                         "SIA", "SIB", "SMB", "SMD", "URA", "URY"})
_NT_CODES = {
    "Acetylcholine": "ACH", "Glutamate": "GLUT", "GABA": "GABA", "Dopamine": "DA", "Serotonin": "SER",
    "Octopamine": "OCT", "Tyramine": "TYR", "Betaine": "BETAINE",
}
_CLASSICAL = ("ACH", "GLUT", "GABA")


@functools.lru_cache(maxsize=1)
def _known_names() -> frozenset[str]:
    from cect import Cells

    return frozenset(Cells.ALL_PREFERRED_CELL_NAMES)


def _split(name: str, known: frozenset[str]) -> tuple[str, str]:
    """(cell class, side) of one cell name."""
    m = re.fullmatch(r"(AS|DA|DB|DD|VA|VB|VC|VD|CA|CP)\d+", name)
    if m:
        return m.group(1), "center"
    m = re.fullmatch(r"(R\d+(?:A|B|st))([LR])", name)
    if m:
        return m.group(1), "left" if m.group(2) == "L" else "right"
    m = re.fullmatch(r"M[DV]([LR])\d+", name)
    if m:
        return "BWM", "left" if m.group(1) == "L" else "right"
    m = re.fullmatch(r"(pm|mc|e|g|vm|um)(\d)([A-Z]*)", name)
    if m:
        tail = m.group(3)
        side = "left" if tail.endswith("L") else "right" if tail.endswith("R") else "center"
        return m.group(1) + m.group(2), side
    m = re.fullmatch(r"([a-z]+)([LR])\d*", name)
    if m:
        return m.group(1), "left" if m.group(2) == "L" else "right"
    base, side = name, "center"
    if len(base) > 2 and base[-1] in "LR":
        other = base[:-1] + ("R" if base[-1] == "L" else "L")
        if other in known:
            side = "left" if base[-1] == "L" else "right"
            base = base[:-1]
    if len(base) > 2 and base[-1] in "DV" and base[:-1] in _DV_CLASSES:
        base = base[:-1]
    return base, side


def cell_class(name: str) -> str:
    """The cell class of a C. elegans cell name (AVAL → AVA, DA01 → DA, MDL05 → BWM).

    Examples
    --------
    >>> cell_class("CEPDL"), cell_class("RIVL"), cell_class("R3BL"), cell_class("pm3VL")
    ('CEP', 'RIV', 'R3B', 'pm3')
    """
    return _split(name, _known_names() | {name})[0]


@functools.lru_cache(maxsize=2)
def _transmitters(sex: str) -> dict[str, tuple[str, ...]]:
    """Transmitters per neuron from the Wang et al. 2024 atlas as read by cect."""
    import contextlib
    import io
    import warnings

    from cect.readers.Wang2024Reader import HERMAPHRODITE, MALE, Wang2024Reader

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        reader = Wang2024Reader(MALE if sex == "male" else HERMAPHRODITE)
    return {cell: tuple(n for n in nts if n) for cell, nts in reader.all_neurotransmitters.items()}


def _primary_nt(nts: tuple[str, ...]) -> str | None:
    codes = [_NT_CODES[n] for n in nts if n in _NT_CODES]
    for c in codes:
        if c in _CLASSICAL:
            return c
    return codes[0] if codes else None


def cell_labels(names: list[str], sex: str = "hermaphrodite") -> pd.DataFrame:
    """Label table for C. elegans cells (one row per name; no ``root_id``).

    Examples
    --------
    >>> t = cell_labels(["AVAL", "MDL05", "hyp"])
    >>> t[["cell_type", "super_class", "cell_category", "side", "nt_type"]].values.tolist()
    [['AVA', 'interneuron', 'neuron', 'left', 'ACH'], ['BWM', 'muscle', 'muscle', 'left', None], ['hyp', 'other', 'other', 'center', None]]
    """
    from cect import Cells

    known = _known_names() | frozenset(names)
    nts = _transmitters(sex)
    sensory = set(Cells.SENSORY_NEURONS_COOK) | set(Cells.MALE_HEAD_SENSORY_NEURONS) | set(
        Cells.MALE_NON_HEAD_SENSORY_NEURONS) | {"NSML", "NSMR"}
    inter = set(Cells.INTERNEURONS_COOK) | set(Cells.MALE_HEAD_INTERNEURONS) | set(Cells.MALE_NON_HEAD_INTERNEURONS)
    motor = set(Cells.MOTORNEURONS_COOK) | {"MI", "MCL", "MCR"}
    rows = []
    for n in names:
        cls, side = _split(n, known)
        is_neuron = Cells.is_any_neuron(n)
        if is_neuron:
            category = "neuron"
            sup = ("sensory" if n in sensory else "motor" if n in motor else
                   "interneuron" if n in inter else "unknown")
        elif Cells.is_known_muscle(n):
            category, sup = "muscle", "muscle"
        else:
            category, sup = "other", "other"
        listed = nts.get(n, ()) if is_neuron else ()
        rows.append({
            "name": n,
            "cell_type": cls,
            "super_class": sup,
            "cell_category": category,
            "side": side,
            "nt_type": _primary_nt(listed),
            "nt_all": "|".join(listed) if listed else None,
            "pharyngeal": bool(Cells.is_pharyngeal_cell(n)),
            "male_specific": bool(n in Cells.MALE_SPECIFIC_NEURONS or Cells.is_male_specific_cell(n)),
        })
    return pd.DataFrame(rows)


def _load_cect(cect_name: str):
    try:
        from cect.Utils import get_connectome_dataset
    except ImportError as exc:  # pragma: no cover - cect is a dependency
        raise DependencyError("the C. elegans datasets need the 'cect' package (pip install cect)") from exc
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return get_connectome_dataset(cect_name, from_cache=True)


def convert(name: str) -> tuple[pd.DataFrame, pd.DataFrame, Manifest]:
    """Convert one ``cect`` dataset to (nodes, edges, manifest), normalised.

    Parameters
    ----------
    name : str
        A key of :data:`CELEGANS_DATASETS`, e.g. ``"celegans_cook2019_herm"``.

    Examples
    --------
    >>> nodes, edges, m = convert("celegans_witvliet2021_8")
    >>> m.source["dataset"], sorted(edges["edge_kind"].unique())
    ('Witvliet8', ['chemical', 'gap_junction'])
    """
    spec = CELEGANS_DATASETS.get(name)
    if spec is None:
        raise DatasetNotFoundError(name, CELEGANS_DATASETS)
    ds = _load_cect(spec.cect_name)
    names = list(ds.nodes)
    ids = name_ids(names, ID_NAMESPACE)
    nodes = cell_labels(names, spec.sex)
    nodes.insert(0, ROOT_ID, ids)
    parts = []
    kinds = {"Generic_CS": CHEMICAL, "Generic_GJ": GAP_JUNCTION}
    for synclass, mat in ds.connections.items():
        if synclass not in kinds:
            logger.info("skipping %s connections of %s", synclass, spec.cect_name)
            continue
        mat = np.asarray(mat)
        pre, post = np.nonzero(mat)
        counts = mat[pre, post]
        if not np.all(counts == np.round(counts)):
            raise ValueError(f"{spec.cect_name}: non-integer {synclass} counts")  # pragma: no cover
        parts.append(pd.DataFrame({PRE: ids[pre], POST: ids[post],
                                   SYNAPSE_COUNT: counts.astype("int64"), EDGE_KIND: kinds[synclass]}))
    edges = normalize_edges(pd.concat(parts, ignore_index=True))
    import cect

    manifest = Manifest(
        name=name,
        title=spec.title,
        species=SPECIES,
        source={
            "kind": "cect",
            "dataset": spec.cect_name,
            "package": f"cect {getattr(cect, '__version__', '')}".strip(),
            "url": "https://github.com/openworm/ConnectomeToolbox",
            "citation": spec.citation,
            "labels": f"cell classes derived from names; neurotransmitters from {_WANG}",
        },
        version={"release": spec.cect_name},
        units={"position": "nm"},
        extra={
            "sex": spec.sex,
            "gap_junctions": "symmetric: stored in both directions with the same count",
            "root_id": f"hash of the cell name (connectome.schema.name_ids(names, {ID_NAMESPACE!r}))",
        },
    )
    return normalize_nodes(nodes), edges, manifest


def ingest_celegans(name: str, out: str | Path | None = None, progress: bool | None = None) -> Path:
    """Convert a ``cect`` dataset and write it as a store.

    Parameters
    ----------
    name : str
        A key of :data:`CELEGANS_DATASETS`.
    out : path, optional
        Store folder (default: the data home, ``CONNECTOME_HOME/<name>``).

    Returns
    -------
    pathlib.Path
        The store folder.

    Examples
    --------
    >>> import tempfile, connectome as cx
    >>> p = ingest_celegans("celegans_witvliet2021_1", tempfile.mkdtemp() + "/w1", progress=False)
    >>> cx.load(p).manifest.source["dataset"]
    'Witvliet1'
    """
    nodes, edges, manifest = convert(name)
    path = Path(out) if out is not None else data_home() / name
    write_tables(path, manifest, nodes, edges, progress=progress)
    return path
