"""Where things live: the data home for stores, and the shared real-data folder.

Nothing is created or read at import time; the functions below only compute paths.

``CONNECTOME_HOME``
    Folder for stores built by ``connectome ingest`` or on first ``load`` of a
    buildable dataset (default ``$XDG_DATA_HOME/connectome`` or
    ``~/.local/share/connectome``).
``CONNECTOME_SHARED_DATA``
    The folder of real connectome files (default: ``../shared/data`` beside the
    project checkout).

Examples
--------
>>> import os
>>> os.environ["CONNECTOME_HOME"] = "/tmp/cx-home"
>>> str(data_home())
'/tmp/cx-home'
>>> del os.environ["CONNECTOME_HOME"]
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_DATASET", "data_home", "shared_data_dir", "project_root"]

#: The embedded default dataset (used by ``connectome demo``); here, not in :mod:`connectome.registry`,
#: so that the command line names it without importing the graph machinery.
DEFAULT_DATASET = "celegans_cook2019_herm"


def data_home() -> Path:
    """Folder where stores of named datasets are kept (not created here)."""
    env = os.environ.get("CONNECTOME_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "connectome"


def project_root() -> Path:
    """The checkout this package was installed from (editable installs)."""
    return Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """The shared real-data folder (``../shared/data`` beside the checkout).

    Examples
    --------
    >>> shared_data_dir().name
    'data'
    """
    env = os.environ.get("CONNECTOME_SHARED_DATA")
    if env:
        return Path(env).expanduser()
    return project_root().parent / "shared" / "data"
