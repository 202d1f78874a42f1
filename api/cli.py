"""``connectome serve``, ``connectome token`` and ``connectome access`` (entry point ``connectome.cli``).

``connectome serve [--init] [--dashboard] [--cluster tls://… --cluster-tls-ca/-cert/-key PEM]``
    Run the HTTP service with uvicorn (127.0.0.1:8000 by default). Files it
    creates are private to its user (umask 077). It refuses to start when the
    data root holds data but its database is missing, empty or another
    service's; ``--init`` starts over with the database found (restore
    ``service.db`` from a backup instead, if you have one). ``--dashboard``
    serves Dask's status pages on 127.0.0.1:8787 (off by default). The
    ``--cluster-tls-*`` files are presented to an external scheduler, whose
    security is its operator's.
``connectome token create USER [--admin] [--expires 90d] | list | revoke TOKEN_ID``
    Bearer tokens. ``create`` prints the secret once; the database keeps only
    its hash. ``--expires`` (d, h or m) makes the token stop working after that long.
``connectome access dataset NAME [--private|--public] [--owner USER] [--terms TEXT] [--terms-url URL] [--store PATH]``
    The service's metadata of a dataset: visibility, owner, data-use terms, or
    register an existing store under NAME.
``connectome access grant USER DATASET [--write] | revoke USER DATASET | show [DATASET]``
    Per-dataset read/write permissions.

All of them take ``--data-root`` (default ``CONNECTOME_API_HOME`` or
``<CONNECTOME_HOME>/service``). The admin commands work while the server runs
(SQLite in WAL mode).

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
>>> register(sub)
>>> p.parse_args(["serve", "--port", "8123"]).port
8123
>>> p.parse_args(["token", "create", "alice", "--admin"]).admin
True
>>> p.parse_args(["token", "create", "alice", "--expires", "90d"]).expires
'90d'
>>> a = p.parse_args(["serve", "--init", "--dashboard"]); a.init, a.dashboard
(True, True)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["register"]


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from .settings import Settings  # lazy: keeps connectome --help cheap

    return Settings.from_env(data_root=getattr(args, "data_root", None), **extra)


def _service(args: argparse.Namespace) -> Any:
    import os

    from .service import Service  # lazy: keeps connectome --help cheap

    os.umask(0o077)  # what the admin commands create is the service's user's only
    return Service(_settings(args)).open(lock=False)


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app  # lazy: keeps connectome --help cheap

    import os

    from .service import Service  # lazy: keeps connectome --help cheap

    settings = _settings(args, host=args.host, port=args.port, cluster=args.cluster, workers=args.workers,
                         public_url=args.public_url, dashboard=True if args.dashboard else None,
                         cluster_tls_ca=args.cluster_tls_ca, cluster_tls_cert=args.cluster_tls_cert,
                         cluster_tls_key=args.cluster_tls_key)
    os.umask(0o077)  # the data root, the database, results, stores and models: the service's user's only
    # check the data root and its database before uvicorn starts (a refusal is one line, exit 2)
    Service(settings).open(lock=True, init=args.init).close()
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s: the service is reachable from other machines", settings.host)
    print(f"connectome service on {settings.base_url} (data root {settings.data_root}, jobs on {settings.cluster}); "
          "Ctrl-C stops it", file=sys.stderr, flush=True)
    from .http_timeouts import protocol_class  # lazy: keeps connectome --help cheap

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.uvicorn_log_level,
                access_log=not args.no_access_log, backlog=2048, timeout_graceful_shutdown=10,
                server_header=False, http=protocol_class(settings.header_timeout_s))
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    svc = _service(args)
    try:
        if args.token_command == "create":
            issued = svc.tokens.create(args.user, admin=args.admin, note=args.note or "", expires=args.expires)
            expires = next((r["expires"] for r in svc.tokens.list(args.user) if r["id"] == issued.id), None)
            if args.json:
                print(json.dumps({"id": issued.id, "user": issued.user, "admin": issued.admin, "token": issued.token,
                                  "expires": expires}))
            else:
                print(f"token id: {issued.id}  user: {issued.user}{'  (admin)' if issued.admin else ''}"
                      f"{f'  expires {expires}' if expires else ''}", file=sys.stderr)
                print("the token below is shown once; the server keeps only its hash:", file=sys.stderr)
                print(issued.token)
        elif args.token_command == "list":
            rows = svc.tokens.list(args.user)
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                for r in rows:
                    if r["revoked"]:
                        state = f"revoked {r['revoked']}"
                    elif r["expires"]:
                        state = f"{'expired' if r['expired'] else 'expires'} {r['expires']}"
                    else:
                        state = "active"
                    print(f"{r['id']}  {r['user']:<20} {'admin' if r['admin'] else 'user ':<6} {state:<30} "
                          f"{r['created']}  {r['note']}")
        elif args.token_command == "revoke":
            if not svc.tokens.revoke(args.token_id):
                print(f"error: no active token {args.token_id!r} (see `connectome token list`)", file=sys.stderr)
                return 2
            print(f"revoked {args.token_id}")
        return 0
    finally:
        svc.close()


def _cmd_access(args: argparse.Namespace) -> int:
    from connectome.store import is_store  # lazy: keeps connectome --help cheap

    svc = _service(args)
    try:
        p = svc.policies
        if args.access_command == "dataset":
            changes: dict[str, Any] = {}
            if args.private is not None:
                changes["private"] = args.private
            if args.owner is not None:
                changes["owner"] = args.owner or None
            if args.terms is not None:
                changes["terms"] = args.terms
            if args.terms_url is not None:
                changes["terms_url"] = args.terms_url
            if args.store is not None:
                from pathlib import Path

                path = Path(args.store).expanduser().absolute()
                if not is_store(path):
                    print(f"error: store: {str(path)!r} is not a connectome store", file=sys.stderr)
                    return 2
                changes["path"] = str(path)
            before = p.policy(args.name)
            becomes_public = not changes.get("private", before.private) and (
                before.private or args.name not in svc.catalog.records())
            existing = svc.catalog.similar_public_name(args.name) if becomes_public else None
            if existing is not None:  # name_too_similar: the same rule as a new name through the API
                print(f"error: name: {args.name!r} looks like the public dataset {existing!r} (it differs only in "
                      "case, punctuation or look-alike characters); choose a clearly different name",
                      file=sys.stderr)
                return 2
            p.set_policy(args.name, **changes)
            print(json.dumps(p.policy(args.name).__dict__, indent=2))
        elif args.access_command == "grant":
            p.grant(args.user, args.dataset, "write" if args.write else "read")
            print(f"{args.user} may {'write' if args.write else 'read'} {args.dataset}")
        elif args.access_command == "revoke":
            if not p.revoke(args.user, args.dataset):
                print(f"error: {args.user} has no grant on {args.dataset}", file=sys.stderr)
                return 2
            print(f"revoked the grant of {args.user} on {args.dataset}")
        elif args.access_command == "show":
            names = [args.dataset] if args.dataset else sorted(p.policies())
            out = [{**p.policy(n).__dict__, "grants": p.grants(n)} for n in names]
            print(json.dumps(out, indent=2))
        return 0
    finally:
        svc.close()


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``serve``, ``token`` and ``access`` to the ``connectome`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-root", default=None,
                        help="the service's data folder (default CONNECTOME_API_HOME or <CONNECTOME_HOME>/service)")

    s = sub.add_parser("serve", parents=[common], help="run the HTTP service (uvicorn, 127.0.0.1:8000)",
                       description="Run the HTTP analysis service. Settings not given here come from "
                                   "CONNECTOME_API_* environment variables (see connectome.api.settings).")
    s.add_argument("--host", default=None, help="interface to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=None, help="port (default 8000)")
    s.add_argument("--cluster", default=None,
                   help="where jobs run: local (a LocalCluster, default), threads, or tcp://host:port")
    s.add_argument("--workers", type=int, default=None, help="process workers of the LocalCluster (default 2)")
    s.add_argument("--public-url", default=None, help="URL clients reach the service at (for Neuroglancer links)")
    s.add_argument("--init", action="store_true",
                   help="start over when the data root holds data but its database is missing, empty or another "
                        "service's (restore service.db from a backup instead, if you can)")
    s.add_argument("--dashboard", action="store_true",
                   help="serve Dask's status pages of the LocalCluster on 127.0.0.1:8787 (off by default)")
    s.add_argument("--cluster-tls-ca", default=None, metavar="PEM",
                   help="CA certificate of an external tls:// scheduler (its security is the operator's)")
    s.add_argument("--cluster-tls-cert", default=None, metavar="PEM",
                   help="this service's client certificate for an external tls:// scheduler")
    s.add_argument("--cluster-tls-key", default=None, metavar="PEM", help="the key of --cluster-tls-cert")
    s.add_argument("--uvicorn-log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    s.add_argument("--no-access-log", action="store_true", help="do not log one line per request")
    s.set_defaults(func=_cmd_serve)

    t = sub.add_parser("token", help="create, list or revoke bearer tokens of the service")
    tsub = t.add_subparsers(dest="token_command", metavar="ACTION")
    tsub.required = True
    tc = tsub.add_parser("create", parents=[common], help="issue a token (printed once)")
    tc.add_argument("user", help="user name (letters, digits, _ . @ -)")
    tc.add_argument("--admin", action="store_true", help="may read and write every dataset and see every job")
    tc.add_argument("--note", default="", help="a note shown by `token list`")
    tc.add_argument("--expires", default=None, metavar="DURATION",
                    help="stop accepting the token after this long: a number with d, h or m (e.g. 90d)")
    tc.add_argument("--json", action="store_true", help="print id, user and token as JSON")
    tl = tsub.add_parser("list", parents=[common], help="tokens (never their secrets)")
    tl.add_argument("--user", default=None)
    tl.add_argument("--json", action="store_true")
    tr = tsub.add_parser("revoke", parents=[common], help="revoke a token by its id (tok_...)")
    tr.add_argument("token_id")
    t.set_defaults(func=_cmd_token)

    a = sub.add_parser("access", help="dataset visibility, owners, data-use terms and grants")
    asub = a.add_subparsers(dest="access_command", metavar="ACTION")
    asub.required = True
    ad = asub.add_parser("dataset", parents=[common], help="set a dataset's visibility, owner, terms or store")
    ad.add_argument("name")
    vis = ad.add_mutually_exclusive_group()
    vis.add_argument("--private", dest="private", action="store_const", const=True, default=None)
    vis.add_argument("--public", dest="private", action="store_const", const=False)
    ad.add_argument("--owner", default=None, help="owning user ('' clears it)")
    ad.add_argument("--terms", default=None, help="data-use terms users must accept ('' clears them)")
    ad.add_argument("--terms-url", default=None, help="where the terms are published")
    ad.add_argument("--store", default=None, help="serve an existing store folder under this name")
    ag = asub.add_parser("grant", parents=[common], help="let a user read (or --write) a dataset")
    ag.add_argument("user")
    ag.add_argument("dataset")
    ag.add_argument("--write", action="store_true")
    ar = asub.add_parser("revoke", parents=[common], help="remove a user's grant on a dataset")
    ar.add_argument("user")
    ar.add_argument("dataset")
    ash = asub.add_parser("show", parents=[common], help="policies and grants as JSON")
    ash.add_argument("dataset", nargs="?")
    a.set_defaults(func=_cmd_access)
