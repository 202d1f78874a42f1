"""Durable resume state of a paged ingest: a journal of finished pages and the pages themselves.

The work folder sits next to the output store (``.<store name>.cave-work/``)::

    ledger.jsonl            one JSON object per line, appended and fsync'ed
    pages/<table>/<n>.arrow     one staged page per finished request (Arrow IPC, lz4)

The first journal line holds the *key* of the ingest (datastack, tables,
version request, selection, columns): a rerun with the same key resumes, a
rerun with another key is refused unless asked to restart. A page counts as
done only once its file is durable (written to a temporary name,
fsync'ed, renamed) *and* its journal line is written; a process killed between
the two leaves an orphan file that the next run deletes. Pages cover
half-open id ranges ``[lo, hi)`` of a plan, so what remains after a crash is
the plan minus the union of finished ranges: nothing is fetched twice into
the result and nothing is skipped. A lock file beside the folder keeps two
runs from writing into it at once (the OS releases it when a run dies).

Examples
--------
>>> subtract([(0, 100)], [(10, 20), (50, 100)])
[(0, 10), (20, 50)]
>>> chop([(0, 10), (20, 50)], 15)
[(0, 10), (20, 35), (35, 50)]
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from connectome.atomic import replace_atomically

from .errors import ResumeMismatchError

logger = logging.getLogger(__name__)

__all__ = ["Ledger", "work_folder", "subtract", "chop", "key_hash"]

LEDGER = "ledger.jsonl"
FORMAT = "connectome-cave-ledger/2"


def work_folder(out: str | os.PathLike) -> Path:
    """The hidden work folder of the store at ``out``.

    Examples
    --------
    >>> work_folder("/data/stores/fw783").name
    '.fw783.cave-work'
    """
    p = Path(out).expanduser().absolute()
    return p.parent / f".{p.name}.cave-work"


def key_hash(key: dict) -> str:
    """A stable hash of an ingest key.

    Examples
    --------
    >>> key_hash({"a": 1}) == key_hash({"a": 1})
    True
    """
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def subtract(spans: Iterable[tuple[int, int]], done: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Half-open ``spans`` minus the union of ``done`` ranges."""
    out: list[tuple[int, int]] = []
    cuts = sorted((int(a), int(b)) for a, b in done if b > a)
    for lo, hi in spans:
        cur = int(lo)
        for a, b in cuts:
            if b <= cur or a >= hi:
                continue
            if a > cur:
                out.append((cur, a))
            cur = max(cur, b)
            if cur >= hi:
                break
        if cur < hi:
            out.append((cur, int(hi)))
    return out


def chop(spans: Iterable[tuple[int, int]], width: int) -> list[tuple[int, int]]:
    """Split half-open spans into pieces of at most ``width`` ids."""
    out = []
    for lo, hi in spans:
        a = lo
        while a < hi:
            b = min(hi, a + width)
            out.append((a, b))
            a = b
    return out


def _fsync_dir(p: Path) -> None:
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Ledger:
    """The journal and staged pages of one ingest (see the module docstring).

    Use :meth:`open`. ``entries`` are the journal lines read at opening (and
    appended since); ``resumed`` says whether a previous run's state was found.
    """

    def __init__(self, folder: Path, key: dict, entries: list[dict], resumed: bool, lock: Any = None) -> None:
        self.folder = folder
        self.key = key
        self.entries = entries
        self.resumed = resumed
        self._lock = lock
        self._fh = open(folder / LEDGER, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    @classmethod
    def open(cls, out: str | os.PathLike, key: dict, *, restart: bool = False) -> Ledger:
        """Open (resume) or create the work folder of the store at ``out``.

        Raises
        ------
        ResumeMismatchError
            An unfinished ingest with another key is there and ``restart`` is false.
        """
        folder = work_folder(out)
        lock = _lock(folder)
        try:
            return cls._open(folder, key, restart, lock)
        except BaseException:
            lock.close()
            raise

    @classmethod
    def _open(cls, folder: Path, key: dict, restart: bool, lock: Any) -> Ledger:
        key = {**key, "ledger_format": FORMAT}
        h = key_hash(key)
        entries: list[dict] = []
        if folder.exists():
            entries = _read_journal(folder / LEDGER)
            head = entries[0] if entries else None
            if head is None or head.get("kind") != "start":
                logger.warning("ignoring an unreadable work folder %s", folder)
                shutil.rmtree(folder, ignore_errors=True)
                entries = []
            elif head.get("key_hash") != h:
                if not restart:
                    now = json.loads(json.dumps(key, sort_keys=True, default=str))
                    old = head.get("key", {})
                    diff = sorted(k for k in set(now) | set(old) if now.get(k) != old.get(k))
                    raise ResumeMismatchError(
                        f"out: {folder} holds an unfinished ingest with other parameters (differing: "
                        f"{', '.join(diff)}); rerun with the same parameters to resume it, or pass restart=True "
                        "(--restart) to discard it", "restart")
                shutil.rmtree(folder, ignore_errors=True)
                entries = []
            elif restart:
                shutil.rmtree(folder, ignore_errors=True)
                entries = []
        resumed = bool(entries)
        (folder / "pages").mkdir(parents=True, exist_ok=True)
        if not entries:
            (folder / LEDGER).unlink(missing_ok=True)
        led = cls(folder, key, entries, resumed, lock)
        if not entries:
            led.append({"kind": "start", "format": FORMAT, "key_hash": h, "key": key})
            _fsync_dir(folder)
        else:
            led._drop_orphans()
        return led

    # -- journal
    def append(self, entry: dict) -> None:
        line = json.dumps(entry, sort_keys=True, default=str)
        self._fh.write(line + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.entries.append(entry)

    def first(self, kind: str, **match: Any) -> dict | None:
        for e in self.entries:
            if e.get("kind") == kind and all(e.get(k) == v for k, v in match.items()):
                return e
        return None

    def pages(self, table: str, group: str | None = None) -> list[dict]:
        """Finished pages of ``table`` (and ``group``) whose files are present."""
        out = []
        for e in self.entries:
            if e.get("kind") == "page" and e["table"] == table and (group is None or e["group"] == group):
                if (self.folder / e["file"]).is_file():
                    out.append(e)
        return out

    # -- pages
    def page_path(self, table: str, group: str, lo: int, hi: int) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in f"{table}")
        g = hashlib.sha1(group.encode()).hexdigest()[:8]
        return self.folder / "pages" / safe / f"{g}-{lo}-{hi}.arrow"

    def stage(self, table: str, group: str, lo: int, hi: int, df: pd.DataFrame) -> dict:
        """Write one page durably (call from any thread); returns its journal entry (not yet appended)."""
        path = self.page_path(table, group, lo, hi)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrow = pa.Table.from_pandas(df, preserve_index=False)
        replace_atomically(path, lambda tmp: feather.write_feather(arrow, tmp, compression="lz4"), fsync=True)
        return {"kind": "page", "table": table, "group": group, "lo": int(lo), "hi": int(hi), "rows": len(df),
                "file": str(path.relative_to(self.folder))}

    def read_pages(self, table: str, cached: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame | None:
        """All finished pages of ``table`` as one DataFrame, in (group, id) order (``None`` if there are none).

        ``cached`` maps page files to frames still in memory (pages fetched by
        this run); the others are read from their staged files.
        """
        pages = sorted(self.pages(table), key=lambda e: (e["group"], e["lo"]))
        if not pages:
            return None
        cached = cached or {}
        frames = []
        for e in pages:
            df = cached.get(e["file"])
            frames.append(df if df is not None else feather.read_table(self.folder / e["file"]).to_pandas())
        nonempty = [f for f in frames if len(f)] or frames[:1]
        return nonempty[0] if len(nonempty) == 1 else pd.concat(nonempty, ignore_index=True)

    def _drop_orphans(self) -> None:
        known = {e["file"] for e in self.entries if e.get("kind") == "page"}
        for p in (self.folder / "pages").rglob("*"):
            if p.is_file() and str(p.relative_to(self.folder)) not in known:
                logger.info("removing a page file without a journal line: %s", p)
                p.unlink(missing_ok=True)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if self._lock is not None and not self._lock.closed:
            self._lock.close()  # releases the flock

    def finish(self) -> None:
        """Remove the work folder (after the store was written)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.with_name(self.folder.name + ".lock").unlink(missing_ok=True)
        self.close()


def _lock(folder: Path) -> Any:
    """An exclusive lock beside the work folder, held while an ingest uses it (released by the OS
    if the process dies)."""
    import fcntl

    folder.parent.mkdir(parents=True, exist_ok=True)
    fh = open(folder.with_name(folder.name + ".lock"), "a+")  # noqa: SIM115 - closed with the ledger
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise ResumeMismatchError(f"out: another ingest is running into {folder.parent}; wait for it to finish "
                                  "(or stop it) before starting this one", "out") from None
    return fh


def _read_journal(path: Path) -> list[dict]:
    """Journal entries; a last line cut by a crash is removed from the file."""
    if not path.is_file():
        return []
    out = []
    good = 0
    with open(path, "rb") as fh:
        data = fh.read()
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break
        good += len(line)
    if good != len(data):
        with open(path, "rb+") as fh:
            fh.truncate(good)
            os.fsync(fh.fileno())
    return out
