"""Bearer tokens and per-dataset permissions.

A token is a random secret shown once when it is created (``connectome token
create``); the database keeps only its SHA-256 and a public id (``tok_…``) that
is safe to show and log. Tokens belong to a *user*; permissions belong to users:

- a dataset is *public* (any valid token may read it) unless the service marks
  it *private*; a private dataset is readable by its owner, by users granted
  ``read`` or ``write``, and by admins;
- writing (ingesting into a dataset name) needs ownership, a ``write`` grant or
  admin rights; a new name belongs to whoever ingests it;
- a dataset may carry data-use terms (e.g. FlyWire's): its data is served to a
  user only after they accepted the current terms (``POST
  /v1/datasets/{name}/terms``); the owner is exempt;
- a dataset's policy is also written beside the service's stores
  (``<stores>/<name>.access.json``), so a dataset stays private when the
  database is lost; a store in the service's stores folder with no policy at
  all is private with no owner (admins only).

A token may expire (``connectome token create USER --expires 90d``): an
expired token is refused like a revoked one, with a message saying it expired.

Examples
--------
>>> import tempfile, pathlib
>>> from connectome.api.db import Database
>>> db = Database(pathlib.Path(tempfile.mkdtemp()) / "service.db"); db.migrate()
>>> tokens = TokenStore(db)
>>> issued = tokens.create("alice")
>>> issued.token.startswith("cx_"), issued.id.startswith("tok_")
(True, True)
>>> tokens.authenticate(issued.token).user
'alice'
>>> tokens.authenticate("cx_not-a-token") is None
True
>>> tokens.revoke(issued.id)
True
>>> tokens.authenticate(issued.token) is None
True
>>> short = tokens.create("bob", expires="1h")
>>> tokens.authenticate(short.token).user, tokens.list("bob")[0]["expires"] is not None
('bob', True)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectome.atomic import replace_atomically
from connectome.errors import InputError
from connectome.manifest import utc_now

from .db import Database

logger = logging.getLogger(__name__)

__all__ = ["Principal", "IssuedToken", "TokenStore", "DatasetPolicy", "Policies", "hash_token", "USER_PATTERN",
           "parse_duration"]

TOKEN_PREFIX = "cx_"
USER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
_USER_RE = re.compile(USER_PATTERN)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # dataset names (connectome.api.schemas.NAME_PATTERN)


def hash_token(token: str) -> str:
    """SHA-256 (hex) of a token: what the database stores.

    Tokens carry 256 random bits, so a plain (unsalted) hash is safe to keep
    and lets the server find a token by its hash.

    Examples
    --------
    >>> len(hash_token("cx_abc"))
    64
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_user(user: str) -> str:
    """Validate a user name (letters, digits, ``_ . @ -``; at most 64).

    Examples
    --------
    >>> check_user("alice@lab")
    'alice@lab'
    >>> check_user("a b")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: user: 'a b' is not a valid user name (letters, digits, _ . @ -; at most 64 characters)
    """
    if not isinstance(user, str) or not _USER_RE.match(user):
        raise InputError(f"user: {user!r} is not a valid user name (letters, digits, _ . @ -; at most 64 characters)",
                         "user")
    return user


_DURATION_RE = re.compile(r"^\s*([0-9]+)\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str, what: str = "--expires") -> _dt.timedelta:
    """A positive duration such as ``90d``, ``12h`` or ``30m`` (days, hours, minutes).

    Examples
    --------
    >>> parse_duration("90d")
    datetime.timedelta(days=90)
    >>> parse_duration("30m").total_seconds()
    1800.0
    >>> parse_duration("2w")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: --expires: '2w' is not a duration; give a whole number with d (days), h (hours) or m (minutes), e.g. 90d
    """
    m = _DURATION_RE.match(str(text))
    if m is None or int(m.group(1)) < 1:
        raise InputError(f"{what}: {text!r} is not a duration; give a whole number with d (days), h (hours) or "
                         "m (minutes), e.g. 90d", what.lstrip("-"))
    try:
        return _dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    except OverflowError:
        raise InputError(f"{what}: {text!r} is too long", what.lstrip("-")) from None


def _expiry(expires: str | _dt.timedelta | _dt.datetime | None) -> str | None:
    """The stored expiry (ISO 8601, UTC) of ``expires``: a duration from now or a time."""
    if expires is None:
        return None
    if isinstance(expires, str):
        expires = parse_duration(expires)
    if isinstance(expires, _dt.timedelta):
        if expires <= _dt.timedelta(0):
            raise InputError("expires: the duration must be positive", "expires")
        expires = _dt.datetime.now(_dt.timezone.utc) + expires
    if expires.tzinfo is None:
        raise InputError("expires: give a timezone-aware time (UTC)", "expires")
    return expires.astimezone(_dt.timezone.utc).isoformat(timespec="seconds")


def _expired(expires: str | None, now: _dt.datetime | None = None) -> bool:
    if not expires:
        return False
    now = now or _dt.datetime.now(_dt.timezone.utc)
    try:
        return _dt.datetime.fromisoformat(expires) <= now
    except ValueError:  # an unreadable expiry refuses the token
        return True


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user behind a valid token."""

    user: str
    token_id: str
    admin: bool = False


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token. ``token`` is shown once and never stored."""

    id: str
    user: str
    token: str
    admin: bool

    def __repr__(self) -> str:  # never print the secret by accident
        return f"IssuedToken(id={self.id!r}, user={self.user!r}, admin={self.admin})"


class TokenStore:
    """Create, look up, list and revoke tokens (hashed at rest)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, user: str, *, admin: bool = False, note: str = "",
               expires: str | _dt.timedelta | _dt.datetime | None = None) -> IssuedToken:
        """Issue a token for ``user``; the secret is returned only here.

        ``expires``: a duration from now (``"90d"``, ``"12h"``, ``"30m"`` or a
        ``timedelta``) or a time (aware ``datetime``); ``None``: never.
        """
        check_user(user)
        until = _expiry(expires)
        token_id = "tok_" + secrets.token_hex(6)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.db.execute(
            "INSERT INTO tokens (id, user, hash, admin, note, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (token_id, user, hash_token(token), int(bool(admin)), str(note), utc_now(), until),
        )
        logger.info("token %s created for user %s%s", token_id, user, f" (expires {until})" if until else "")
        return IssuedToken(token_id, user, token, bool(admin))

    def _row(self, token: str) -> Any:
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 256:
            return None
        return self.db.one("SELECT id, user, admin, expires FROM tokens WHERE hash = ? AND revoked IS NULL",
                           (hash_token(token),))

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked, unexpired token, else ``None`` (see :meth:`refusal`)."""
        row = self._row(token)
        if row is None or _expired(row["expires"]):
            return None
        return Principal(user=row["user"], token_id=row["id"], admin=bool(row["admin"]))

    def refusal(self, token: str) -> str:
        """Why :meth:`authenticate` refuses ``token``, in words for a 401 answer (the secret is never repeated)."""
        row = self._row(token)
        if row is not None and _expired(row["expires"]):
            return (f"the bearer token {row['id']} expired at {row['expires']}; ask an admin for a new one "
                    "(`connectome token create USER --expires 90d`)")
        return "the bearer token is not valid or was revoked"

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by its public id; ``False`` if no such active token."""
        cur = self.db.execute("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                              (utc_now(), token_id))
        if cur.rowcount:
            logger.info("token %s revoked", token_id)
        return bool(cur.rowcount)

    def list(self, user: str | None = None) -> list[dict[str, Any]]:
        """Tokens (without secrets or hashes), newest first."""
        sql = "SELECT id, user, admin, note, created, revoked, expires FROM tokens"
        rows = self.db.all(sql + (" WHERE user = ?" if user else "") + " ORDER BY created DESC, id",
                           (user,) if user else ())
        now = _dt.datetime.now(_dt.timezone.utc)
        return [{**dict(r), "admin": bool(r["admin"]), "expired": _expired(r["expires"], now)} for r in rows]


@dataclass(frozen=True)
class DatasetPolicy:
    """The service's access rules for one dataset."""

    name: str
    owner: str | None = None
    private: bool = False
    terms: str | None = None
    terms_url: str | None = None
    path: str | None = None

    @property
    def terms_hash(self) -> str | None:
        """A short hash of the terms: accepting old terms does not accept new ones."""
        if not self.terms and not self.terms_url:
            return None
        return hashlib.sha256(f"{self.terms}\n{self.terms_url}".encode()).hexdigest()[:16]


class Policies:
    """Dataset policies, grants and accepted terms, kept in the service database.

    With ``stores_dir`` (the service's stores folder), every policy set is also
    written to ``<stores_dir>/<name>.access.json``, and a name with no row in
    the database takes its policy from that file: a private dataset stays
    private when the database is lost or replaced. A store folder under
    ``stores_dir`` with neither is private with no owner (admins only).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from connectome.api.db import Database
    >>> db = Database(pathlib.Path(tempfile.mkdtemp()) / "s.db"); db.migrate()
    >>> p = Policies(db)
    >>> p.set_policy("secret_ds", private=True, owner="alice")
    >>> alice, bob = Principal("alice", "tok_a"), Principal("bob", "tok_b")
    >>> p.can_read(alice, "secret_ds"), p.can_read(bob, "secret_ds"), p.can_read(bob, "public_ds")
    (True, False, True)
    >>> p.grant("bob", "secret_ds", "read"); p.can_read(bob, "secret_ds"), p.can_write(bob, "secret_ds")
    (True, False)

    The policy kept beside the stores outlives the database:

    >>> stores = pathlib.Path(tempfile.mkdtemp())
    >>> Policies(db, stores).set_policy("mine", private=True, owner="alice")
    >>> sorted(x.name for x in stores.iterdir())
    ['mine.access.json']
    >>> empty = Database(pathlib.Path(tempfile.mkdtemp()) / "s.db"); empty.migrate()
    >>> Policies(empty, stores).can_read(bob, "mine"), Policies(empty, stores).policy("mine").owner
    (False, 'alice')
    """

    #: Suffix of the policy files kept beside the service's stores.
    SIDECAR = ".access.json"

    def __init__(self, db: Database, stores_dir: str | Path | None = None) -> None:
        self.db = db
        self.stores_dir = Path(stores_dir) if stores_dir is not None else None

    @staticmethod
    def _from_row(r: Any) -> DatasetPolicy:
        return DatasetPolicy(r["name"], r["owner"], bool(r["private"]), r["terms"], r["terms_url"], r["path"])

    def _sidecar(self, name: str) -> Path | None:
        if self.stores_dir is None or not _NAME_RE.match(name):
            return None
        return self.stores_dir / f"{name}{self.SIDECAR}"

    def _fallback(self, name: str) -> DatasetPolicy | None:
        """The policy kept beside the stores, or private-with-no-owner for a bare service store; else ``None``."""
        side = self._sidecar(name)
        if side is None:
            return None
        try:
            raw = json.loads(side.read_text())
        except FileNotFoundError:
            raw = None
        except (OSError, ValueError) as exc:  # unreadable: fail closed
            logger.warning("dataset %s: unreadable policy file %s (%s); private to admins", name, side, exc)
            return DatasetPolicy(name, None, True)
        if isinstance(raw, dict):
            owner = raw.get("owner")
            return DatasetPolicy(name, owner if isinstance(owner, str) and _USER_RE.match(owner) else None,
                                 raw.get("private") is not False, raw.get("terms") or None,
                                 raw.get("terms_url") or None, raw.get("path") or None)
        if raw is not None or (self.stores_dir / name).is_dir():  # type: ignore[operator]
            return DatasetPolicy(name, None, True)  # a service store with no policy: admins only
        return None

    def policy(self, name: str) -> DatasetPolicy:
        """The policy of ``name``: the database's, else the one kept beside the stores, else public.

        A store under the service's stores folder with neither is private with no owner.
        """
        row = self.db.one("SELECT name, owner, private, terms, terms_url, path FROM datasets WHERE name = ?", (name,))
        if row is None:
            return self._fallback(name) or DatasetPolicy(name)
        return self._from_row(row)

    def policies(self) -> dict[str, DatasetPolicy]:
        """Every dataset the service has metadata for (database rows, then policies kept beside the stores)."""
        rows = self.db.all("SELECT name, owner, private, terms, terms_url, path FROM datasets")
        out = {r["name"]: self._from_row(r) for r in rows}
        if self.stores_dir is not None and self.stores_dir.is_dir():
            for p in self.stores_dir.iterdir():
                if p.name.startswith("."):
                    continue
                name = p.name[: -len(self.SIDECAR)] if p.name.endswith(self.SIDECAR) else p.name
                if name not in out and (p.is_dir() or p.name.endswith(self.SIDECAR)):
                    fb = self._fallback(name)
                    if fb is not None:
                        out[name] = fb
        return out

    def _write_sidecar(self, policy: DatasetPolicy) -> None:
        side = self._sidecar(policy.name)
        if side is None:
            return

        body = json.dumps({"name": policy.name, "owner": policy.owner, "private": policy.private,
                           "terms": policy.terms, "terms_url": policy.terms_url, "path": policy.path,
                           "updated": utc_now()}, indent=1)

        def write(tmp: Path) -> None:
            tmp.write_text(body)
            os.chmod(tmp, 0o600)

        side.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(side, write, fsync=True)

    _UNSET: Any = object()

    def set_policy(self, name: str, *, private: bool | None = None, owner: Any = _UNSET, terms: Any = _UNSET,
                   terms_url: Any = _UNSET, path: Any = _UNSET) -> None:
        """Create or change the policy of ``name`` (unspecified fields keep their value)."""
        cur = self.policy(name)
        if owner is not self._UNSET and owner is not None:
            check_user(owner)
        new = {
            "owner": cur.owner if owner is self._UNSET else owner,
            "private": int(cur.private if private is None else bool(private)),
            "terms": cur.terms if terms is self._UNSET else (terms or None),
            "terms_url": cur.terms_url if terms_url is self._UNSET else (terms_url or None),
            "path": cur.path if path is self._UNSET else (None if path is None else str(path)),
        }
        now = utc_now()
        self.db.execute(
            "INSERT INTO datasets (name, owner, private, terms, terms_url, path, created, updated) "
            "VALUES (:name, :owner, :private, :terms, :terms_url, :path, :now, :now) "
            "ON CONFLICT (name) DO UPDATE SET owner = :owner, private = :private, terms = :terms, "
            "terms_url = :terms_url, path = :path, updated = :now",
            {"name": name, "now": now, **new},
        )
        self._write_sidecar(DatasetPolicy(name, new["owner"], bool(new["private"]), new["terms"], new["terms_url"],
                                          new["path"]))

    def grant(self, user: str, dataset: str, permission: str = "read") -> None:
        """Give ``user`` ``read`` or ``write`` access to ``dataset``."""
        check_user(user)
        if permission not in ("read", "write"):
            raise InputError(f"permission must be 'read' or 'write', not {permission!r}", "permission")
        self.db.execute(
            "INSERT INTO grants (dataset, user, permission) VALUES (?, ?, ?) "
            "ON CONFLICT (dataset, user) DO UPDATE SET permission = excluded.permission",
            (dataset, user, permission),
        )

    def revoke(self, user: str, dataset: str) -> bool:
        """Remove the grant of ``user`` on ``dataset``."""
        return bool(self.db.execute("DELETE FROM grants WHERE dataset = ? AND user = ?", (dataset, user)).rowcount)

    def grants(self, dataset: str | None = None) -> list[dict[str, str]]:
        """Grants, optionally of one dataset."""
        if dataset is None:
            return [dict(r) for r in self.db.all("SELECT dataset, user, permission FROM grants ORDER BY dataset, user")]
        return [dict(r) for r in self.db.all("SELECT dataset, user, permission FROM grants WHERE dataset = ? "
                                             "ORDER BY user", (dataset,))]

    def _grant(self, user: str, dataset: str) -> str | None:
        return self.db.scalar("SELECT permission FROM grants WHERE dataset = ? AND user = ?", (dataset, user))

    def can_read(self, who: Principal, name: str, policy: DatasetPolicy | None = None) -> bool:
        """May ``who`` see ``name`` at all (terms aside)?"""
        p = policy or self.policy(name)
        if who.admin or not p.private or p.owner == who.user:
            return True
        return self._grant(who.user, name) is not None

    def can_write(self, who: Principal, name: str, policy: DatasetPolicy | None = None) -> bool:
        """May ``who`` write (ingest into) ``name``?"""
        p = policy or self.policy(name)
        if who.admin or (p.owner is not None and p.owner == who.user):
            return True
        return self._grant(who.user, name) == "write"

    def access(self, who: Principal, name: str, policy: DatasetPolicy | None = None) -> str | None:
        """``"write"``, ``"read"`` or ``None``."""
        p = policy or self.policy(name)
        if self.can_write(who, name, p):
            return "write"
        return "read" if self.can_read(who, name, p) else None

    def terms_pending(self, who: Principal, policy: DatasetPolicy) -> bool:
        """True when ``policy`` has terms that ``who`` has not accepted (owners are exempt)."""
        h = policy.terms_hash
        if h is None or policy.owner == who.user:
            return False
        got = self.db.scalar("SELECT terms_hash FROM terms_accepted WHERE dataset = ? AND user = ?",
                             (policy.name, who.user))
        return got != h

    def accept_terms(self, who: Principal, policy: DatasetPolicy) -> str:
        """Record that ``who`` accepted the current terms; returns the time (UTC)."""
        now = utc_now()
        self.db.execute(
            "INSERT INTO terms_accepted (dataset, user, terms_hash, accepted) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (dataset, user) DO UPDATE SET terms_hash = excluded.terms_hash, accepted = excluded.accepted",
            (policy.name, who.user, policy.terms_hash or "", now),
        )
        return now
