"""`furrow cloud`: the cloud service, its schema migrations and API tokens."""

from __future__ import annotations

import argparse
import sys

ROLES = ("technician", "agronomist", "gateway", "admin")


def register(sub: argparse._SubParsersAction) -> None:
    cloud = sub.add_parser("cloud", help="the cloud service")
    cloud_sub = cloud.add_subparsers(dest="cloud_command", required=True, metavar="COMMAND")
    run = cloud_sub.add_parser("run", help="serve the API and ingest (settings from FURROW_* variables)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.set_defaults(func=_run)

    migrate = cloud_sub.add_parser("migrate", help="bring the relational database schema to the newest revision")
    migrate.set_defaults(func=_migrate)

    token = cloud_sub.add_parser("token", help="API tokens (straight in the database; for bootstrapping)")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = token_sub.add_parser("create", help="issue a token and print it (shown once)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", help="user name (default: the role); created with the role if new")
    create.add_argument("--ttl-days", type=float, help="lifetime (default FURROW_TOKEN_TTL_DAYS)")
    create.set_defaults(func=_token_create)
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id")
    revoke.set_defaults(func=_token_revoke)


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from furrow.cloud.app import create_app
    from furrow.cloud.settings import Settings

    uvicorn.run(create_app(Settings()), host=args.host, port=args.port, log_level="info")
    return 0


def _database():
    from furrow.cloud.db import Database
    from furrow.cloud.settings import Settings

    settings = Settings()
    db = Database(settings.resolved_database_url())
    db.migrate()
    return settings, db


def _migrate(args: argparse.Namespace) -> int:
    from furrow.cloud.migrations import current

    _, db = _database()
    print(f"database at revision {current(db.engine)}")
    db.dispose()
    return 0


def _token_create(args: argparse.Namespace) -> int:
    from furrow.cloud.auth import Role, TokenStore

    settings, db = _database()
    role = Role(args.role)
    ttl = args.ttl_days or (settings.gateway_token_ttl_days if role is Role.GATEWAY else settings.token_ttl_days)
    store = TokenStore(db, settings.token_key())
    try:
        with db.sessions.begin() as session:
            issued = store.issue_sync(session, args.name or args.role, role, ttl)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(issued.token)
    print(f"token {issued.id} for {issued.user} ({issued.role}), expires at {issued.expires_ms} ms; "
          "it is shown only now", file=sys.stderr)
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    import asyncio

    from furrow.cloud.auth import TokenStore

    settings, db = _database()
    try:
        found = asyncio.run(TokenStore(db, settings.token_key()).revoke(args.token_id))
    finally:
        db.dispose()
    if not found:
        print(f"error: no token {args.token_id!r}", file=sys.stderr)
        return 2
    print(f"token {args.token_id} revoked", file=sys.stderr)
    return 0
