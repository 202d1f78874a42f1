"""Presets for FlyWire and MICrONS over the general CAVE path.

A preset names a datastack's tables and the conventions of its community: the
synapse table and which position stands for a synapse, the cell-type tables
and how their labels become node columns, per-synapse filters (FlyWire's cleft
score), the connection threshold (FlyWire's ≥5 synapses), transmitter columns,
and the voxel resolution (used for release files; live tables report their own).
Every field can be overridden (:meth:`CavePreset.with_overrides`); any other
datastack is read with ``CavePreset(datastack=...)`` and the defaults.

Examples
--------
>>> p = get_preset("flywire")
>>> p.datastack, p.synapse_table, p.min_synapses, p.synapse_filters
('flywire_fafb_public', 'synapses_nt_v1', 5, (('cleft_score', '>=', 50),))
>>> get_preset("microns").cell_tables[0].table
'aibs_metamodel_celltypes_v661'
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from connectome.errors import InputError
from connectome.validate import check_int

__all__ = ["CellTableSpec", "CavePreset", "PRESETS", "get_preset", "preset_for_datastack", "DEFAULT_SERVER",
           "FILTER_OPS"]

#: caveclient's default global server; it knows both public datastacks.
DEFAULT_SERVER = "https://global.daf-apis.com"

#: Comparison operators of a per-synapse filter -> caveclient filter dictionary.
FILTER_OPS = {">=": "filter_greater_equal_dict", ">": "filter_greater_dict", "<=": "filter_less_equal_dict",
              "<": "filter_less_dict", "==": "filter_equal_dict"}


@dataclass(frozen=True)
class CellTableSpec:
    """How an annotation table becomes node columns.

    Parameters
    ----------
    table : str
        Table name.
    labels : tuple of str, optional
        Columns to keep as labels (default: every column that is not
        bookkeeping, a position, a supervoxel or root id).
    pivot : str, optional
        A column whose values name label columns (FlyWire's hierarchical
        annotations: ``classification_system`` = ``super_class`` / ``class`` /
        ``cell_type``, the value in ``value``).
    value : str
        The value column of a pivot (``cell_type``).
    rename : dict
        Renames applied to label columns (MICrONS: ``classification_system`` -> ``class``).
    position : str
        Position column that becomes ``x_nm``, ``y_nm``, ``z_nm``.
    root : str
        Root id column joined to nodes.

    Examples
    --------
    >>> CellTableSpec("cells", rename={"classification_system": "class"}).rename_map
    {'classification_system': 'class'}
    """

    table: str
    labels: tuple[str, ...] | None = None
    pivot: str | None = None
    value: str = "cell_type"
    rename: tuple[tuple[str, str], ...] | dict = ()
    position: str = "pt_position"
    root: str = "pt_root_id"

    def __post_init__(self) -> None:
        if isinstance(self.rename, dict):
            object.__setattr__(self, "rename", tuple(self.rename.items()))

    @property
    def rename_map(self) -> dict[str, str]:
        return dict(self.rename)


@dataclass(frozen=True)
class CavePreset:
    """Tables and conventions of one datastack (see the module docstring).

    A named preset (:data:`PRESETS`) is one of these; build one for any other
    datastack, or change a field of a named one with :meth:`with_overrides`.
    Values are checked when the preset is built.

    Parameters
    ----------
    datastack : str
        E.g. ``"minnie65_public"``, ``"flywire_fafb_public"``.
    name : str, optional
        The preset's name (``"flywire"``, ``"microns"``); recorded in the
        manifest and the default store name (else the datastack's).
    server : str
        CAVE server URL (default: caveclient's global server).
    synapse_table : str, optional
        The synapse table (default: the datastack's).
    position : str, optional
        The position column that stands for a synapse (default:
        ``ctr_pt_position``, else ``post_pt_position``, else the first).
    cell_tables : list of str or CellTableSpec
        Annotation tables joined to nodes by root id (names become
        :class:`CellTableSpec` with default conventions).
    voxel_resolution_nm : (x, y, z), optional
        nm per voxel, for release files (live tables report their own).
    synapse_filters : list of (column, op, value)
        Per-synapse filters applied by the server, e.g. ``[("cleft_score", ">=", 50)]``;
        ``op`` is one of :data:`FILTER_OPS`.
    min_synapses : int or None
        Keep edges of neuron pairs with at least this many synapses in total
        (per-synapse rows are kept either way); ``None`` keeps every edge.
    nt_columns, keep_columns : tuple of str
        Per-synapse transmitter probabilities (averaged per edge) and other
        columns kept on synapse rows.
    species, title, citation, notes
        Recorded in the manifest.

    Examples
    --------
    >>> CavePreset("toy_public", cell_tables=["cell_types"]).cell_tables[0].table
    'cell_types'
    >>> CavePreset("toy_public", synapse_filters=[("size", "=>", 5)])
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: synapse_filters: unknown operator '=>'; use one of ['>=', '>', '<=', '<', '==']
    """

    datastack: str
    name: str | None = None
    server: str = DEFAULT_SERVER
    synapse_table: str | None = None
    position: str | None = None
    cell_tables: tuple[CellTableSpec, ...] = ()
    voxel_resolution_nm: tuple[float, float, float] | None = None
    synapse_filters: tuple[tuple[str, str, float], ...] = ()
    min_synapses: int | None = None
    nt_columns: tuple[str, ...] = ()
    keep_columns: tuple[str, ...] = ()
    species: str | None = None
    title: str = ""
    citation: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.datastack, str):
            raise InputError(f"datastack must be a datastack name, not {self.datastack!r}", "datastack")
        if isinstance(self.cell_tables, (str, CellTableSpec)):
            raise InputError("cell_tables must be a list of tables, e.g. ['cell_types'] ([] for none)",
                             "cell_tables")
        specs = tuple(t if isinstance(t, CellTableSpec) else CellTableSpec(str(t)) for t in self.cell_tables)
        filters = []
        for f in self.synapse_filters:
            if isinstance(f, str) or len(f) != 3:
                raise InputError(f"synapse_filters: each filter is (column, op, value), not {f!r}",
                                 "synapse_filters")
            if f[1] not in FILTER_OPS:
                raise InputError(f"synapse_filters: unknown operator {f[1]!r}; use one of {list(FILTER_OPS)}",
                                 "synapse_filters")
            filters.append(tuple(f))
        m = check_int(self.min_synapses, "min_synapses", low=1, optional=True, what="a positive integer or None")
        object.__setattr__(self, "min_synapses", m)
        object.__setattr__(self, "cell_tables", specs)
        object.__setattr__(self, "synapse_filters", tuple(filters))
        for name in ("nt_columns", "keep_columns", "notes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def with_overrides(self, **changes: object) -> CavePreset:
        """A copy with some fields replaced (``None`` values are ignored; use
        :func:`dataclasses.replace` to set a field to ``None``).

        Examples
        --------
        >>> get_preset("flywire").with_overrides(min_synapses=1, server=None).min_synapses
        1
        """
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


FLYWIRE = CavePreset(
    name="flywire",
    datastack="flywire_fafb_public",
    synapse_table="synapses_nt_v1",
    position="post_pt_position",
    cell_tables=(CellTableSpec("hierarchical_neuron_annotations", pivot="classification_system",
                               value="cell_type"),),
    voxel_resolution_nm=(4.0, 4.0, 40.0),
    synapse_filters=(("cleft_score", ">=", 50),),
    min_synapses=5,
    nt_columns=("gaba", "ach", "glut", "oct", "ser", "da"),
    keep_columns=("cleft_score", "connection_score"),
    species="Drosophila melanogaster",
    title="FlyWire adult fly brain (FAFB)",
    citation=("Dorkenwald S, et al. (2024) Neuronal wiring diagram of an adult brain. Nature 634:124-138; "
              "Buhmann J, et al. (2021) Automatic detection of synaptic partners in a whole-brain Drosophila "
              "EM dataset. Nat Methods 18:771-774; Eckstein N, et al. (2024) Neurotransmitter classification "
              "from electron microscopy images at synaptic sites in Drosophila melanogaster. Cell 187:2574-2594"),
    notes=("synapses with cleft_score < 50 are dropped, as in Dorkenwald et al. 2024",
           "a connection is a neuron pair with >= 5 synapses (Codex); per-synapse rows keep every synapse",
           "edge nt_type is the transmitter with the highest mean probability over the pair's synapses"),
)

MICRONS = CavePreset(
    name="microns",
    datastack="minnie65_public",
    synapse_table="synapses_pni_2",
    position="ctr_pt_position",
    cell_tables=(CellTableSpec("aibs_metamodel_celltypes_v661", labels=("classification_system", "cell_type"),
                               rename={"classification_system": "class"}),),
    voxel_resolution_nm=(4.0, 4.0, 40.0),
    keep_columns=("size",),
    species="Mus musculus",
    title="MICrONS mouse visual cortex (minnie65)",
    citation=("The MICrONS Consortium (2025) Functional connectomics spanning multiple areas of mouse visual "
              "cortex. Nature 640:435-447"),
    notes=("aibs_metamodel_celltypes_v661 is a reference table on nucleus_detection_v0; node positions are "
           "nucleus centres",),
)

PINKY100 = CavePreset(
    name="pinky100",
    datastack="pinky100",
    voxel_resolution_nm=(4.0, 4.0, 40.0),
    species="Mus musculus",
    title="MICrONS phase 1 pinky100, layer 2/3 of mouse visual cortex",
    citation=("Turner NL, et al. (2022) Reconstruction of neocortex: Organelles, compartments, cells, circuits, "
              "and activity. Cell 185:1082-1100; Dorkenwald S, et al. (2022) Binary and analog variation of "
              "synapses between cortical pyramidal neurons. eLife 11:e76120"),
    notes=("voxel positions are in the 4 x 4 x 40 nm frame of the released tables and volumes (the files' own nm "
           "columns are voxels x 4 x 4 x 40; the EM was imaged at 3.58 x 3.58 x 40 nm): see docs/guides/ingest.md",),
)

PRESETS: dict[str, CavePreset] = {"flywire": FLYWIRE, "microns": MICRONS, "pinky100": PINKY100}


def preset_for_datastack(datastack: str | None) -> CavePreset | None:
    """The named preset whose datastack ``datastack`` is (also with a ``_v<version>`` suffix), else ``None``.

    Examples
    --------
    >>> preset_for_datastack("pinky100").species
    'Mus musculus'
    >>> preset_for_datastack("minnie65_public_v343").name, preset_for_datastack("fanc_production") is None
    ('microns', True)
    """
    if not datastack:
        return None
    text = str(datastack).strip().lower()
    for p in PRESETS.values():
        if text == p.datastack or (text.startswith(p.datastack + "_v") and text[len(p.datastack) + 2:].isdigit()):
            return p
    return None


def get_preset(preset: str | CavePreset | None) -> CavePreset | None:
    """A preset by name (``"flywire"``, ``"microns"``, ``"pinky100"``), a :class:`CavePreset`, or ``None``.

    Other datastacks need no name: pass ``CavePreset(datastack=...)``.

    Examples
    --------
    >>> get_preset("flywyre")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: preset: unknown preset 'flywyre'; use one of ['flywire', 'microns', 'pinky100'], or CavePreset(datastack=...) for any datastack
    """
    if preset is None or isinstance(preset, CavePreset):
        return preset
    p = PRESETS.get(str(preset).lower())
    if p is None:
        raise InputError(f"preset: unknown preset {preset!r}; use one of {sorted(PRESETS)}, "
                         "or CavePreset(datastack=...) for any datastack", "preset")
    return p
