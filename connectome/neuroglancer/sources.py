"""Image and segmentation sources of a dataset, with their voxel resolution.

One table, :data:`KNOWN_DATASETS`, says which public volumes show the neurons of
a known dataset: EM image, static segmentation per release (materialization)
version, voxel resolution and the viewer its users expect. A connectome's
manifest picks the entry by **datastack** (``source.datastack``, CAVE and CAVE
release files), neuPrint dataset (``source.dataset``, e.g. ``hemibrain:v1.2.1``)
or source kind (``flywire-codex``), never by the store's name; its version
picks the segmentation, and its ``voxel_resolution_nm`` overrides the entry's.

- ``flywire``: datastacks flywire_fafb_public / flywire_fafb_production, Codex
  releases; versions 630, 783; 4 x 4 x 40 nm; viewer ``flywire`` (ngl.flywire.ai).
- ``microns``: minnie65_public (and names such as minnie65_public_v343); versions
  343, 943, 1300; 4 x 4 x 40 nm.
- ``pinky100``: MICrONS phase 1 layer 2/3; version 185; 4 x 4 x 40 nm (the frame of its released
  tables and volumes; imaged at 3.58 x 3.58 x 40 nm).
- ``hemibrain``: neuPrint hemibrain:v1.x; versions 1.0, 1.1, 1.2 (1.2.1); 8 nm.
- ``manc``: neuPrint manc:v1.2.x; versions 1.2, 1.2.1, 1.2.3; 8 nm.

Each entry's comment names where its URLs come from. **Not included**, because
no citable public static source was found: FANC (no public precomputed
segmentation could be cited; its reconstruction lives in CAVE), MICrONS minnie65 v117 and the
other minnie65 materializations (661, 795, 1078, 1181, ...), MANC v1.0, and
FlyWire materializations other than 630 and 783. Those versions get the entry's
default segmentation with a loud warning (the ids may not all exist there);
pass ``dataset=`` (CLI: ``--source``) with the right volume to show them exactly.

Local precomputed volumes (a folder with an ``info`` file) and any
``precomputed://`` / ``graphene://`` URL work too.

Examples
--------
>>> s = dataset_sources("flywire")
>>> s.segmentation, s.viewer
('precomputed://gs://flywire_v141_m783', 'flywire')
>>> s.resolution_nm
(4.0, 4.0, 40.0)
>>> dataset_sources("hemibrain:v1.1").segmentation
'precomputed://gs://neuroglancer-janelia-flyem-hemibrain/v1.1/segmentation'
>>> dataset_sources("microns").image
'precomputed://https://bossdb-open-data.s3.amazonaws.com/iarpa_microns/minnie/minnie65/em'
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, SourceNotFoundError
from .notices import warn

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Connectome
    from ..manifest import Manifest

logger = logging.getLogger(__name__)

__all__ = ["Sources", "KNOWN_DATASETS", "dataset_sources", "detect_dataset", "known_dataset", "local_volume",
           "default_viewer", "id_namespace", "check_id_namespace"]

_SCHEMES = ("precomputed://", "graphene://", "n5://", "zarr://", "zarr2://", "zarr3://", "boss://",
            "dvid://", "brainmaps://", "render://", "python://", "nifti://", "deepzoom://")

#: How to name the way out in messages: the Python parameter and the CLI flag.
_FIX = "pass dataset= (CLI: --source)"


@dataclass(frozen=True)
class Sources:
    """Where a dataset's volumes live and how big a voxel is.

    Parameters
    ----------
    segmentation : str, optional
        Segmentation source URL (``precomputed://...``, ``graphene://...``).
    image : str, optional
        EM image source URL.
    resolution_nm : tuple of 3 floats, optional
        Voxel size (x, y, z) in nm of the viewer's coordinates; positions in nm are
        divided by it.
    name : str
        A short name shown as the layer name prefix.
    bounds : tuple ((x0, y0, z0), (x1, y1, z1)), optional
        Volume bounds in voxels (local volumes), used to centre the view.
    versions : tuple of (version, segmentation) pairs
        Release / materialization version -> static segmentation source.
    viewer : str, optional
        The viewer this dataset's users expect (a name of
        :data:`~connectome.neuroglancer.links.VIEWERS` or a URL); links use it
        unless ``prefix=`` or ``CONNECTOME_VIEWER`` says otherwise.
    datastacks : tuple of str
        Datastack / dataset names (as recorded in manifests) that mean this dataset.
    version : str, optional
        The version whose segmentation :attr:`segmentation` is (once picked).
    id_prefix : str, optional
        The leading decimal digits of this volume's root ids (its chunkedgraph's
        top layer: FlyWire ``7205759``, minnie65 ``8646911``, pinky100
        ``6485183``); :func:`check_id_namespace` refuses ids of another volume.
    """

    segmentation: str | None = None
    image: str | None = None
    resolution_nm: tuple[float, float, float] | None = None
    name: str = ""
    bounds: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    versions: tuple[tuple[str, str], ...] = ()
    viewer: str | None = None
    datastacks: tuple[str, ...] = ()
    version: str | None = None
    id_prefix: str | None = None

    def with_version(self, version: Any, *, where: str = "") -> Sources:
        """The same sources with the static segmentation of ``version``.

        A version without a public static segmentation keeps the default one and
        warns (logged, and kept by :func:`~connectome.neuroglancer.collect_warnings`):
        root ids of another version may not exist in it.

        Examples
        --------
        >>> KNOWN_DATASETS["flywire"].with_version(630).segmentation
        'precomputed://gs://flywire_v141_m630'
        """
        table = dict(self.versions)
        if version is None or not table:
            return self
        key = _version_key(version)
        if key in table:
            return replace(self, segmentation=table[key], version=key)
        warn(logger, f"dataset: {where or 'the store'} is {self.name} version {key}, which has no public static "
             f"segmentation (known: {', '.join(table)}); showing {self.segmentation} instead, where root ids "
             f"that changed since version {key} are missing; {_FIX} with the segmentation of version {key} "
             "to show exactly these neurons")
        return self


# ----------------------------------------------------------------------------------------------------------
# The table of known datasets. Each entry cites where its URLs come from; only what could be cited is here.
# ----------------------------------------------------------------------------------------------------------
_FLYWIRE_SEG = "precomputed://gs://flywire_v141_m{}"
_MINNIE_SEG = "precomputed://gs://iarpa_microns/minnie/minnie65/seg_m{}"
_HEMIBRAIN = "precomputed://gs://neuroglancer-janelia-flyem-hemibrain/{}"
_MANC_SEG = "precomputed://gs://manc-seg-v1p2/manc-seg-v1.2"

KNOWN_DATASETS: dict[str, Sources] = {
    # FlyWire whole adult fly brain, FAFB v14.1 alignment (Dorkenwald et al. 2024, Schlegel et al. 2024).
    # Segmentations: the static ("flat") public releases, materializations 630 and 783, as named by
    # fafbseg (navis-org/fafbseg-py, fafbseg/flywire/utils.py: FLYWIRE_URLS "flat_630" / "flat_783",
    # CAVE datastacks flywire_fafb_public and flywire_fafb_production). Image: the FAFB v14.1 EM on
    # BossDB's open-data bucket, the image layer of FlyWire Codex's Neuroglancer states (as reproduced in
    # public code; not confirmed on a FlyWire page). Viewer: FlyWire's own Neuroglancer, ngl.flywire.ai.
    "flywire": Sources(
        name="flywire",
        image="precomputed://https://bossdb-open-data.s3.amazonaws.com/flywire/fafbv14",
        segmentation=_FLYWIRE_SEG.format(783),
        resolution_nm=(4.0, 4.0, 40.0),
        versions=(("630", _FLYWIRE_SEG.format(630)), ("783", _FLYWIRE_SEG.format(783))),
        viewer="flywire",
        datastacks=("flywire_fafb_public", "flywire_fafb_production"),
        id_prefix="7205759",
    ),
    # MICrONS mouse visual cortex, minnie65 (The MICrONS Consortium 2025). Image: BossDB open data
    # (iarpa_microns/minnie/minnie65/em), the image source of MICrONS tools and tutorials. Segmentations:
    # the static per-materialization exports gs://iarpa_microns/minnie/minnie65/seg_m<version> that the
    # minnie65_public datastack publishes (v343 used with datastack minnie65_public_v343 in public
    # notebooks; tutorial.microns-explorer.org explains versions). Only 343, 943 and 1300 could be cited.
    "microns": Sources(
        name="microns",
        image="precomputed://https://bossdb-open-data.s3.amazonaws.com/iarpa_microns/minnie/minnie65/em",
        segmentation=_MINNIE_SEG.format(1300),
        resolution_nm=(4.0, 4.0, 40.0),
        versions=tuple((v, _MINNIE_SEG.format(v)) for v in ("343", "943", "1300")),
        viewer="neuroglancer-demo",
        datastacks=("minnie65_public",),
        id_prefix="8646911",
    ),
    # MICrONS phase 1, pinky100: layer 2/3 of mouse V1, imaged at 3.58 x 3.58 x 40 nm (BossDB
    # "IARPA MICrONS Pinky 100 Dataset" page; microns-explorer.org/phase1), but its released tables and
    # volumes use a 4 x 4 x 40 nm voxel frame: the synapse export's own nm columns are exactly its voxel
    # columns x 4 x 4 x 40 (AllenInstitute/MicronsBinder, notebooks/intro/Render3DScaleBar.ipynb: ctr_pt_x_nm
    # 365476 = 4 x ctr_pos_x_vx 91369, ctr_pt_z_nm 63280 = 40 x 1582; the same notebook converts pre_pos_*_vx
    # with [4, 4, 40]), and Neuroglancer states of these two volumes use voxelSize [4, 4, 40]
    # (shandran/layer23-volume). Image and the v185 static segmentation: AllenInstitute/MicronsBinder,
    # notebooks/intro/ImageAndSegmentationDownload.ipynb (img_source / seg_source, served from
    # gs://microns_public_datasets). The volumes' info files were not read here (no network).
    "pinky100": Sources(
        name="pinky100",
        image="precomputed://gs://microns_public_datasets/pinky100_v0/son_of_alignment_v15_rechunked",
        segmentation="precomputed://gs://microns_public_datasets/pinky100_v185/seg",
        resolution_nm=(4.0, 4.0, 40.0),
        versions=(("185", "precomputed://gs://microns_public_datasets/pinky100_v185/seg"),),
        viewer="neuroglancer-demo",
        datastacks=("pinky100",),
        id_prefix="6485183",
    ),
    # Janelia FlyEM hemibrain (Scheffer et al. 2020). Image (CLAHE, 8 nm isotropic) and the v1.0 / v1.1 /
    # v1.2 segmentations: janelia-flyem/dvid-io, blog/2020-01-22-hemibrain-release.md,
    # blog/2020-06-29-hemibrain-v1.1-release.md, blog/2020-12-22-hemibrain-v1.2-release.md ("Neuroglancer
    # Precomputed Data"). neuPrint's hemibrain:v1.2.1 shows the v1.2 segmentation (its layer list, as
    # quoted in public code; not confirmed on a Janelia page).
    "hemibrain": Sources(
        name="hemibrain",
        image=_HEMIBRAIN.format("emdata/clahe_yz/jpeg"),
        segmentation=_HEMIBRAIN.format("v1.2/segmentation"),
        resolution_nm=(8.0, 8.0, 8.0),
        versions=(("1.0", _HEMIBRAIN.format("v1.0/segmentation")), ("1.1", _HEMIBRAIN.format("v1.1/segmentation")),
                  ("1.2", _HEMIBRAIN.format("v1.2/segmentation")), ("1.2.1", _HEMIBRAIN.format("v1.2/segmentation"))),
        viewer="neuroglancer-demo",
        datastacks=("hemibrain",),
    ),
    # Janelia FlyEM male adult nerve cord, MANC (Takemura et al. 2024). Image (CLAHE, 8 nm): the grayscale
    # layer of the MANC scenes in natverse/malevnc, R/urls.R. Segmentation v1.2 (shown by neuPrint for
    # manc:v1.2.1 and v1.2.3): flyconnectome/cocoa, cocoa/datasets/manc.py (_DEFAULT_NEUROGLANCER_SOURCE);
    # a collaborator's package, not a Janelia release note. No public static v1.0 segmentation was found.
    "manc": Sources(
        name="manc",
        image="precomputed://gs://flyem-vnc-2-26-213dba213ef26e094c16c860ae7f4be0/v3_emdata_clahe_xy/jpeg",
        segmentation=_MANC_SEG,
        resolution_nm=(8.0, 8.0, 8.0),
        versions=(("1.2", _MANC_SEG), ("1.2.1", _MANC_SEG), ("1.2.3", _MANC_SEG)),
        viewer="neuroglancer-demo",
        datastacks=("manc",),
    ),
}


def _version_key(version: Any) -> str:
    """``783``, ``"v783"``, ``783.0`` -> ``"783"``; ``"v1.2.1"`` -> ``"1.2.1"``.

    Examples
    --------
    >>> _version_key("v1.2.1"), _version_key(783.0), _version_key(" V943 ")
    ('1.2.1', '783', '943')
    """
    if isinstance(version, float) and version.is_integer():
        version = int(version)
    return str(version).strip().lower().removeprefix("v")


def known_dataset(name: str) -> tuple[str, str | None] | None:
    """The :data:`KNOWN_DATASETS` key for a dataset or datastack name, and the version the name carries.

    Accepts the table's names (``"flywire"``), datastacks (``"minnie65_public"``,
    ``"minnie65_public_v343"``) and neuPrint datasets (``"hemibrain:v1.2.1"``);
    ``None`` when the name is unknown.

    Examples
    --------
    >>> known_dataset("minnie65_public_v343")
    ('microns', '343')
    >>> known_dataset("hemibrain:v1.2.1")
    ('hemibrain', '1.2.1')
    >>> known_dataset("fanc_production_mar2021") is None
    True
    """
    text = str(name).strip().lower()
    version = None
    if ":" in text and "://" not in text:
        text, _, version = text.partition(":")
        version = _version_key(version) or None
    names = {k: k for k in KNOWN_DATASETS}
    names.update({d: k for k, s in KNOWN_DATASETS.items() for d in s.datastacks})
    if text in names:
        return names[text], version
    m = re.match(r"^(.*)_v(\d+)$", text)
    if m and m.group(1) in names:
        return names[m.group(1)], version or m.group(2)
    return None


def _manifest_identity(manifest: Manifest) -> tuple[str | None, Any, str | None]:
    """(datastack or dataset name, version, timestamp) recorded in a manifest: source and version, never
    the store's name."""
    src = manifest.source if isinstance(manifest.source, dict) else {}
    ver = manifest.version if isinstance(manifest.version, dict) else {}
    name = src.get("datastack") or ver.get("datastack")
    if not name and str(src.get("kind", "")).lower() == "neuprint":
        name = src.get("dataset")
    if not name and str(src.get("kind", "")).lower() == "flywire-codex":
        name = "flywire"
    version = ver.get("materialization")
    if version is None:
        version = ver.get("release")
    timestamp = ver.get("timestamp")
    if version is None and timestamp is not None:
        version = ver.get("base_materialization")
    return (str(name) if name else None), version, (str(timestamp) if timestamp else None)


def detect_dataset(manifest: Manifest) -> str | None:
    """Which known dataset a manifest describes (a :data:`KNOWN_DATASETS` key), from its datastack.

    ``None`` when the manifest names no datastack (or dataset). A datastack that
    is not in the table raises :class:`~connectome.errors.InputError` naming
    ``dataset=`` (CLI: ``--source``): the volume is never guessed.

    Examples
    --------
    >>> from connectome.manifest import Manifest
    >>> detect_dataset(Manifest(name="x", version={"datastack": "minnie65_public"}))
    'microns'
    >>> detect_dataset(Manifest(name="flywire_lookalike")) is None     # the name does not count
    True
    >>> detect_dataset(Manifest(name="vnc", source={"datastack": "fanc_production_mar2021"}))
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: dataset: vnc comes from datastack 'fanc_production_mar2021', whose image and segmentation volumes are not known (known: flywire, microns, pinky100, hemibrain, manc); pass dataset= (CLI: --source) with its segmentation, e.g. precomputed://gs://bucket/segmentation, a local precomputed folder or connectome.neuroglancer.Sources(segmentation=..., image=..., resolution_nm=...)
    """
    name, _, _ = _manifest_identity(manifest)
    if name is None:
        return None
    found = known_dataset(name)
    if found is None:
        raise InputError(
            f"dataset: {manifest.name} comes from datastack {name!r}, whose image and segmentation volumes are "
            f"not known (known: {', '.join(KNOWN_DATASETS)}); {_FIX} with its segmentation, e.g. "
            "precomputed://gs://bucket/segmentation, a local precomputed folder or "
            "connectome.neuroglancer.Sources(segmentation=..., image=..., resolution_nm=...)", "dataset")
    return found[0]


def default_viewer(sources: Sources | None) -> str | None:
    """The viewer a link should open in when ``prefix=`` is not given: ``CONNECTOME_VIEWER``, else the
    dataset's own viewer (FlyWire: ``ngl.flywire.ai``), else ``None`` (``neuroglancer-demo``).

    Examples
    --------
    >>> default_viewer(KNOWN_DATASETS["flywire"]) if "CONNECTOME_VIEWER" not in os.environ else "flywire"
    'flywire'
    """
    return os.environ.get("CONNECTOME_VIEWER") or (sources.viewer if sources is not None else None)


def id_namespace(ids: Any) -> tuple[str | None, int, int]:
    """Which known volume most of ``ids`` belong to, by the leading digits of root ids (:attr:`Sources.id_prefix`).

    Returns ``(key, n_matching, n_ids)``: the :data:`KNOWN_DATASETS` key whose
    prefix a majority of the unique ids carry (``None`` when no volume holds a
    majority, e.g. small ids of C. elegans or neuPrint body ids), how many carry
    it, and how many unique ids were looked at (at most 100,000).

    Examples
    --------
    >>> id_namespace([648518346349538235, 648518346349539462, 7])
    ('pinky100', 2, 3)
    >>> id_namespace([1, 2, 3])
    (None, 0, 3)
    """
    import numpy as np

    arr = np.unique(np.asarray(list(ids) if not hasattr(ids, "__array__") else ids).astype(np.uint64))[:100_000]
    text = arr.astype(str)
    n = len(text)
    for key, src in KNOWN_DATASETS.items():
        if src.id_prefix:
            hit = int(np.char.startswith(text, src.id_prefix).sum())
            if n and 2 * hit > n:
                return key, hit, n
    return None, 0, n


def check_id_namespace(ids: Any, sources: Sources | str, *, where: str, fix: str, unclaimed: str = "pass") -> None:
    """Refuse root ids that belong to another known volume than ``sources`` (a majority of them, by their
    leading digits): a pinky100 export read with the minnie65 preset, a link of FlyWire ids in the MICrONS
    volume. Ids that no known volume claims (C. elegans names, neuPrint body ids), none of them with the
    prefix of ``sources``, show nothing in its link: ``unclaimed`` says what then happens (``"pass"``, ``"warn"`` or
    ``"refuse"``). Every id passes when ``sources`` records no id prefix (a local volume, an unknown one).

    Raises
    ------
    IdNamespaceError
        Naming both volumes, an example id and ``fix``.

    Examples
    --------
    >>> check_id_namespace([720575940621039145], "flywire", where="root_ids", fix="pass dataset=")
    >>> check_id_namespace([648518346349538235, 648518346349539462], "microns", where="root_ids",
    ...                    fix="pass dataset='pinky100'")
    Traceback (most recent call last):
    ...
    connectome.errors.IdNamespaceError: root_ids: 2 of the 2 root ids (e.g. 648518346349538235) are pinky100 ids (6485183...), not ids of microns (8646911...), the volume chosen; pass dataset='pinky100'
    >>> check_id_namespace([3, 5], "flywire", where="--source", fix="choose the dataset's own volume",
    ...                    unclaimed="refuse")
    Traceback (most recent call last):
    ...
    connectome.errors.IdNamespaceError: --source: none of the 2 root ids (e.g. 3) is an id of flywire (7205759...), the volume chosen, nor of any known volume; choose the dataset's own volume
    """
    from ..errors import IdNamespaceError

    src = KNOWN_DATASETS.get(sources) if isinstance(sources, str) else sources
    if src is None or not src.id_prefix:
        return
    key, hit, n = id_namespace(ids)
    import numpy as np

    if key is None and unclaimed != "pass" and n:
        text = np.unique(np.asarray(ids).astype(np.uint64)).astype(str)
        if not np.char.startswith(text, src.id_prefix).any():
            msg = (f"{where}: none of the {len(text)} root ids (e.g. {text[0]}) is an id of "
                   f"{src.name or 'the volume'} ({src.id_prefix}...), the volume chosen, nor of any known volume")
            if unclaimed == "refuse":
                raise IdNamespaceError(f"{msg}; {fix}", where.split(" ")[0])
            warn(logger, f"{msg}: the link will show none of them; {fix}")
    if key is None or KNOWN_DATASETS[key].id_prefix == src.id_prefix:
        return

    example = next(i for i in np.unique(np.asarray(ids).astype(np.uint64)).astype(str)
                   if i.startswith(KNOWN_DATASETS[key].id_prefix))
    raise IdNamespaceError(f"{where}: {hit} of the {n} root ids (e.g. {example}) are {key} ids "
                           f"({KNOWN_DATASETS[key].id_prefix}...), not ids of {src.name or 'the volume'} "
                           f"({src.id_prefix}...), the volume chosen; {fix}", where.split(" ")[0])


def _from_manifest(manifest: Manifest, key: str, name_version: str | None) -> Sources:
    """The entry ``key`` with the segmentation of the manifest's version (warning when there is none)."""
    src = KNOWN_DATASETS[key]
    _, version, timestamp = _manifest_identity(manifest)
    version = version if version is not None else name_version
    if timestamp is not None:
        shown = src.with_version(version, where=manifest.name) if version is not None else src
        warn(logger, f"dataset: {manifest.name} was read at timestamp {timestamp}, not at a materialization; "
             f"showing the static {src.name} segmentation {shown.segmentation}, where root ids edited after "
             f"version {shown.version or 'it'} are missing; {_FIX} with the live (graphene://) segmentation "
             "to show exactly these neurons")
        return shown
    if version is None:
        if len(src.versions) > 1:
            warn(logger, f"dataset: {manifest.name} records no materialization version; showing the {src.name} "
                 f"segmentation {src.segmentation} (the latest public one), where ids from other versions are "
                 f"missing; record the version at ingest (--version) or {_FIX} with the right segmentation")
        return src
    return src.with_version(version, where=manifest.name)


def local_volume(path: str | os.PathLike) -> Sources:
    """Sources of a local precomputed volume (a folder with an ``info`` file).

    The ``info`` gives the type (segmentation or image), the resolution and the
    bounds of the finest scale.
    """
    p = Path(str(path).removeprefix("precomputed://").removeprefix("file://")).expanduser().resolve()
    info_file = p / "info"
    if not info_file.is_file():
        raise SourceNotFoundError(info_file, "dataset", "a local volume is a Neuroglancer precomputed folder "
                                  "with an 'info' file")
    try:
        info = json.loads(info_file.read_text())
        scale = info["scales"][0]
        res = tuple(float(r) for r in scale["resolution"])
        off = [float(v) for v in scale.get("voxel_offset", [0, 0, 0])]
        size = [float(v) for v in scale["size"]]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise InputError(f"dataset: {info_file} is not a precomputed volume info ({exc})", "dataset") from None
    url = "precomputed://" + p.as_uri()
    bounds = (tuple(off), tuple(o + s for o, s in zip(off, size)))
    if info.get("type") == "image":
        return Sources(image=url, resolution_nm=res, name=p.name, bounds=bounds)  # type: ignore[arg-type]
    return Sources(segmentation=url, resolution_nm=res, name=p.name, bounds=bounds)  # type: ignore[arg-type]


def _resolution(value: Any) -> tuple[float, float, float]:
    try:
        res = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        res = ()
    if len(res) != 3 or not all(r > 0 for r in res):
        raise InputError(f"resolution_nm: expected three positive numbers (x, y, z in nm), got {value!r}",
                         "resolution_nm")
    return res  # type: ignore[return-value]


def dataset_sources(dataset: str | os.PathLike | Sources | None = None, c: Connectome | None = None) -> Sources:
    """Resolve what to show: a known name, a :class:`Sources`, a local folder or a source URL.

    With ``dataset=None`` the connectome's manifest picks the entry of
    :data:`KNOWN_DATASETS` by datastack and its version picks the static
    segmentation (a version without one warns, never silently). A manifest
    without a datastack, or with an unknown one, is refused: pass ``dataset=``
    (CLI: ``--source``). A known name given explicitly (``"flywire"``,
    ``"minnie65_public"``, ``"hemibrain:v1.1"``) takes its version from the name,
    else from the connectome's manifest. The manifest's ``voxel_resolution_nm``
    overrides the dataset's default resolution.

    Examples
    --------
    >>> dataset_sources("precomputed://gs://bucket/seg").segmentation
    'precomputed://gs://bucket/seg'
    >>> dataset_sources("fanc")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: dataset: 'fanc' is neither a known dataset (flywire, microns, pinky100, hemibrain, manc), a local precomputed folder nor a source URL such as precomputed://gs://bucket/volume (CLI: --source)
    """
    manifest = c.manifest if c is not None else None
    if isinstance(dataset, Sources):
        src = dataset
    elif dataset is None:
        if manifest is None:
            raise InputError("dataset: nothing to show; pass a connectome or dataset= (CLI: --source): a known "
                             "dataset, a local precomputed folder or a source URL", "dataset")
        key = detect_dataset(manifest)
        if key is None:
            raise InputError(
                f"dataset: no image or segmentation volume is known for {manifest.name!r}; pass dataset= "
                f"(CLI: --source): a known dataset ({', '.join(KNOWN_DATASETS)}), a local precomputed folder, "
                "a source URL or connectome.neuroglancer.Sources(...); datasets are recognised by the datastack "
                "their manifest records, not by their name", "dataset")
        name, _, _ = _manifest_identity(manifest)
        found = known_dataset(name or key)
        src = _from_manifest(manifest, key, found[1] if found else None)
    else:
        text = os.fspath(dataset) if isinstance(dataset, os.PathLike) else str(dataset)
        found = known_dataset(text) if "://" not in text else None
        if found is not None:
            key, name_version = found
            if name_version is not None:
                src = KNOWN_DATASETS[key].with_version(name_version, where=repr(text))
            elif manifest is not None:
                try:
                    store_key = detect_dataset(manifest)
                except InputError:  # the store names another datastack: the explicit choice wins
                    store_key = ""
                _, store_version, _ = _manifest_identity(manifest)
                if store_key == key:
                    src = _from_manifest(manifest, key, None)
                elif store_key is None and store_version is not None:
                    src = KNOWN_DATASETS[key].with_version(store_version, where=manifest.name)
                else:
                    src = KNOWN_DATASETS[key]
            else:
                src = KNOWN_DATASETS[key]
        elif text.startswith("precomputed://file://") or text.startswith("file://") or (
                not text.startswith(_SCHEMES) and "://" not in text and Path(text).expanduser().exists()):
            src = local_volume(text)
        elif text.startswith(_SCHEMES):
            src = Sources(segmentation=text, name=text.rstrip("/").rsplit("/", 1)[-1])
        else:
            raise InputError(
                f"dataset: {text!r} is neither a known dataset ({', '.join(KNOWN_DATASETS)}), a local "
                "precomputed folder nor a source URL such as precomputed://gs://bucket/volume (CLI: --source)",
                "dataset")
    if manifest is not None and manifest.voxel_resolution_nm:
        recorded = _resolution(manifest.voxel_resolution_nm)
        known = src.name if src.name in KNOWN_DATASETS and src.image == KNOWN_DATASETS[src.name].image else None
        if known is not None and any(abs(a - b) > 0.01 * b for a, b in
                                     zip(recorded, KNOWN_DATASETS[known].resolution_nm)):
            warn(logger, f"dataset: {manifest.name} records a voxel resolution of "
                 f"{' x '.join(f'{v:g}' for v in recorded)} nm, but the {known} volume's is "
                 f"{' x '.join(f'{v:g}' for v in KNOWN_DATASETS[known].resolution_nm)} nm: the store's positions "
                 f"in nm were made with the other resolution, so points may sit "
                 f"{max(abs(a / b - 1) for a, b in zip(recorded, KNOWN_DATASETS[known].resolution_nm)):.1%} off "
                 "in the viewer; re-ingest with --voxel-resolution "
                 f"{' '.join(f'{v:g}' for v in KNOWN_DATASETS[known].resolution_nm)} if the volume's is right")
        src = replace(src, resolution_nm=recorded)
    elif src.resolution_nm is not None:
        src = replace(src, resolution_nm=_resolution(src.resolution_nm))
    return src
