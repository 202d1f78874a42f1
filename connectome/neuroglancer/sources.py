"""Image and segmentation sources of a dataset, with their voxel resolution.

FlyWire (FAFB v14.1) and MICrONS (minnie65) public sources are known by name; a
connectome's manifest picks one (dataset name, datastack, species) and its
``voxel_resolution_nm`` overrides the default resolution. Local precomputed
volumes (a folder with an ``info`` file) and any ``precomputed://`` /
``graphene://`` URL work too.

Examples
--------
>>> s = dataset_sources("flywire")
>>> s.segmentation
'precomputed://gs://flywire_v141_m783'
>>> s.resolution_nm
(4.0, 4.0, 40.0)
>>> dataset_sources("microns").image
'precomputed://https://bossdb-open-data.s3.amazonaws.com/iarpa_microns/minnie/minnie65/em'
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, SourceNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Connectome

logger = logging.getLogger(__name__)

__all__ = ["Sources", "KNOWN_DATASETS", "dataset_sources", "detect_dataset", "local_volume"]

_SCHEMES = ("precomputed://", "graphene://", "n5://", "zarr://", "zarr2://", "zarr3://", "boss://",
            "dvid://", "brainmaps://", "render://", "python://", "nifti://", "deepzoom://")


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
    versions : dict, optional
        Materialization version -> segmentation source, for datasets with static releases.
    """

    segmentation: str | None = None
    image: str | None = None
    resolution_nm: tuple[float, float, float] | None = None
    name: str = ""
    bounds: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    versions: tuple[tuple[str, str], ...] = ()

    def with_version(self, version: Any) -> Sources:
        """The same sources with the segmentation of materialization ``version`` (if known)."""
        table = dict(self.versions)
        if version is None or not table:
            return self
        key = str(version)
        if key in table:
            return replace(self, segmentation=table[key])
        logger.warning("no static %s segmentation for materialization %s (known: %s); using %s — root ids "
                       "may not match", self.name, key, ", ".join(table), self.segmentation)
        return self


KNOWN_DATASETS: dict[str, Sources] = {
    # FlyWire, FAFB v14.1 alignment; static public segmentations per materialization.
    "flywire": Sources(
        name="flywire",
        image="precomputed://https://bossdb-open-data.s3.amazonaws.com/flywire/fafbv14",
        segmentation="precomputed://gs://flywire_v141_m783",
        resolution_nm=(4.0, 4.0, 40.0),
        versions=(("630", "precomputed://gs://flywire_v141_m630"),
                  ("783", "precomputed://gs://flywire_v141_m783")),
    ),
    # MICrONS minnie65 public release; static segmentations of the public materializations.
    "microns": Sources(
        name="microns",
        image="precomputed://https://bossdb-open-data.s3.amazonaws.com/iarpa_microns/minnie/minnie65/em",
        segmentation="precomputed://gs://iarpa_microns/minnie/minnie65/seg_m1300",
        resolution_nm=(4.0, 4.0, 40.0),
        versions=(("343", "precomputed://gs://iarpa_microns/minnie/minnie65/seg_m343"),
                  ("943", "precomputed://gs://iarpa_microns/minnie/minnie65/seg_m943"),
                  ("1300", "precomputed://gs://iarpa_microns/minnie/minnie65/seg_m1300")),
    ),
}


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return " ".join(f"{k} {_text_of(v)}" for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return " ".join(_text_of(v) for v in obj)
    return str(obj)


def detect_dataset(manifest: Any) -> str | None:
    """Which known dataset a manifest describes (``"flywire"``, ``"microns"`` or ``None``).

    Examples
    --------
    >>> from connectome.manifest import Manifest
    >>> detect_dataset(Manifest(name="x", version={"datastack": "minnie65_public"}))
    'microns'
    >>> detect_dataset(Manifest(name="celegans_cook2019_herm")) is None
    True
    """
    text = " ".join([manifest.name, manifest.title or "", _text_of(manifest.source),
                     _text_of(manifest.version)]).lower()
    if any(k in text for k in ("minnie", "microns")):
        return "microns"
    species = (manifest.species or "").lower()
    if any(k in text for k in ("flywire", "fafb")) or ("drosophila melanogaster" == species
                                                     and "codex" in text):
        return "flywire"
    return None


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

    With ``dataset=None`` the connectome's manifest picks a known dataset (and its
    materialization version picks the static segmentation). The manifest's
    ``voxel_resolution_nm`` overrides the dataset's default resolution.

    Examples
    --------
    >>> dataset_sources("precomputed://gs://bucket/seg").segmentation
    'precomputed://gs://bucket/seg'
    >>> dataset_sources("hemibrain")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: dataset: 'hemibrain' is neither a known dataset (flywire, microns), a local precomputed folder nor a source URL such as precomputed://gs://bucket/volume
    """
    manifest = c.manifest if c is not None else None
    if isinstance(dataset, Sources):
        src = dataset
    elif dataset is None:
        if manifest is None:
            raise InputError("dataset: nothing to show; pass a connectome or dataset= (a known dataset, "
                             "a local precomputed folder or a source URL)", "dataset")
        name = detect_dataset(manifest)
        if name is None:
            raise InputError(
                f"dataset: no image or segmentation volume is known for {manifest.name!r}; pass dataset= "
                "('flywire', 'microns', a local precomputed folder, a source URL or "
                "connectome.neuroglancer.Sources(...))", "dataset")
        src = KNOWN_DATASETS[name].with_version((manifest.version or {}).get("materialization"))
    else:
        text = os.fspath(dataset) if isinstance(dataset, os.PathLike) else str(dataset)
        if text.lower() in KNOWN_DATASETS:
            src = KNOWN_DATASETS[text.lower()]
            if manifest is not None:
                src = src.with_version((manifest.version or {}).get("materialization"))
        elif text.startswith("precomputed://file://") or text.startswith("file://") or (
                not text.startswith(_SCHEMES) and "://" not in text and Path(text).expanduser().exists()):
            src = local_volume(text)
        elif text.startswith(_SCHEMES):
            src = Sources(segmentation=text, name=text.rstrip("/").rsplit("/", 1)[-1])
        else:
            raise InputError(
                f"dataset: {text!r} is neither a known dataset ({', '.join(KNOWN_DATASETS)}), a local "
                "precomputed folder nor a source URL such as precomputed://gs://bucket/volume", "dataset")
    if manifest is not None and manifest.voxel_resolution_nm:
        src = replace(src, resolution_nm=_resolution(manifest.voxel_resolution_nm))
    elif src.resolution_nm is not None:
        src = replace(src, resolution_nm=_resolution(src.resolution_nm))
    return src
