"""`furrow cloud`: the cloud service, its schema migrations, API tokens, keys, backups and restores."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._cloud_backup import register_backup
from ._cloud_keys import register_keys

ROLES = ("technician", "agronomist", "gateway", "admin", "regional", "operator")


def register(sub: argparse._SubParsersAction) -> None:
    cloud = sub.add_parser("cloud", help="the cloud service")
    cloud_sub = cloud.add_subparsers(dest="cloud_command", required=True, metavar="COMMAND")
    run = cloud_sub.add_parser("run", help="serve the API and ingest (settings from FURROW_* variables)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--tls-cert", type=Path, metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    run.add_argument("--tls-key", type=Path, metavar="FILE", help="the certificate's private key (PEM)")
    run.add_argument("--tls-client-ca", type=Path, metavar="FILE",
                     help="mutual TLS: require a client certificate signed by this CA (PEM)")
    run.set_defaults(func=_run)

    migrate = cloud_sub.add_parser("migrate", help="bring the relational database schema to the newest revision")
    migrate.set_defaults(func=_migrate)

    token = cloud_sub.add_parser("token", help="API tokens (straight in the database; for bootstrapping)")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = token_sub.add_parser("create", help="issue a token and print it (shown once)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", help="user name (default: the role); created with the role if new")
    create.add_argument("--ttl-days", type=float, help="lifetime (default FURROW_TOKEN_TTL_DAYS)")
    create.add_argument("--org", default="default", help="the user's organisation (default: default)")
    create.add_argument("--region", help="a regional user's region, e.g. 650000/650100 (role regional only)")
    create.set_defaults(func=_token_create)
    org = cloud_sub.add_parser("org", help="organisations: farms and cooperatives on this service (issue 21)")
    org_sub = org.add_subparsers(dest="org_command", required=True, metavar="COMMAND")
    ocreate = org_sub.add_parser("create", help="add an organisation; give its admin a token with token create --org")
    ocreate.add_argument("id", help="1-32 of a-z 0-9 - _")
    ocreate.add_argument("--name", required=True)
    ocreate.add_argument("--region", help="administrative codes, widest first: province/city/county")
    ocreate.add_argument("--share", action="store_true", help="counted in its region's aggregates (regional view)")
    ocreate.set_defaults(func=_org_create)
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id")
    revoke.set_defaults(func=_token_revoke)

    user = cloud_sub.add_parser("user", help="people who log in with a password (straight in the database)")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    ucreate = user_sub.add_parser("create", help="create a user, or set an existing user's password; the password "
                                  "is read from --password-file or standard input, never from the command line")
    ucreate.add_argument("name")
    ucreate.add_argument("--role", required=True, choices=[r for r in ROLES if r != "gateway"])
    ucreate.add_argument("--password-file", type=Path, metavar="FILE",
                         help="read the password from FILE (first line); default: standard input")
    ucreate.add_argument("--org", default="default", help="the user's organisation (default: default)")
    ucreate.add_argument("--region", help="a regional user's region, e.g. 650000/650100 (role regional only)")
    ucreate.set_defaults(func=_user_create)

    register_keys(cloud_sub)
    register_backup(cloud_sub)


def _run(args: argparse.Namespace) -> int:
    import ssl

    import uvicorn

    from furrow.cloud.app import create_app
    from furrow.cloud.limits import server_config

    if (args.tls_cert is None) != (args.tls_key is None):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.tls_client_ca is not None and args.tls_cert is None:
        print("error: --tls-client-ca needs --tls-cert and --tls-key (mutual TLS is on top of TLS)", file=sys.stderr)
        return 2
    for name in ("tls_cert", "tls_key", "tls_client_ca"):
        path = getattr(args, name)
        if path is not None and not path.is_file():
            print(f"error: --{name.replace('_', '-')}={path}: no such file", file=sys.stderr)
            return 2
    tls: dict = {}
    if args.tls_cert is not None:
        tls = {"ssl_certfile": str(args.tls_cert), "ssl_keyfile": str(args.tls_key)}
    if args.tls_client_ca is not None:
        tls |= {"ssl_ca_certs": str(args.tls_client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    settings = settings_or_say_why()
    if settings is None:
        return 2
    # with the service's limits on slow and oversized clients (furrow/cloud/limits.py)
    server = uvicorn.Server(server_config(create_app(settings), args.host, args.port, log_level="info", **tls))
    server.run()
    return 0 if server.started else 3  # 3: did not start (port taken, ...), as uvicorn.run exits


def settings_or_say_why():
    """The cloud's settings from FURROW_* variables, or None after one line on stderr saying which
    variable to set (every `furrow cloud` command that needs them starts here)."""
    from furrow.cloud.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as e:
        print(f"error: cloud settings: {e}", file=sys.stderr)
        return None


def _database():
    """(settings, migrated database), or None after saying which variable to set."""
    from furrow.cloud.db import Database

    settings = settings_or_say_why()
    if settings is None:
        return None
    db = Database(settings.resolved_database_url())
    db.migrate()
    return settings, db


def _migrate(args: argparse.Namespace) -> int:
    from furrow.cloud.migrations import current

    opened = _database()
    if opened is None:
        return 2
    _, db = opened
    print(f"database at revision {current(db.engine)}")
    db.dispose()
    return 0


def _token_create(args: argparse.Namespace) -> int:
    import getpass

    from furrow.cloud._time import now_ms
    from furrow.cloud.audit import record_sync
    from furrow.cloud.auth import Role, TokenStore

    opened = _database()
    if opened is None:
        return 2
    settings, db = opened
    role = Role(args.role)
    ttl = args.ttl_days or (settings.gateway_token_ttl_days if role is Role.GATEWAY else settings.token_ttl_days)
    store = TokenStore(db, settings.token_key())
    try:
        with db.sessions.begin() as session:
            issued = store.issue_sync(session, args.name or args.role, role, ttl, organisation=args.org,
                                      region=args.region)
            record_sync(session, f"cli:{getpass.getuser()}", "token.issue", f"user:{issued.user}", "local",
                        {"token_id": issued.id, "role": str(role)}, now_ms=now_ms())
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(issued.token)
    print(f"token {issued.id} for {issued.user} ({issued.role}), expires at {issued.expires_ms} ms; "
          "it is shown only now", file=sys.stderr)
    return 0


def _org_create(args: argparse.Namespace) -> int:
    import getpass

    from pydantic import ValidationError

    from furrow.cloud._time import now_ms
    from furrow.cloud.audit import record_sync
    from furrow.cloud.errors import Conflict
    from furrow.cloud.tenancy.organisations import OrganisationNew, create_organisation

    try:
        body = OrganisationNew(id=args.id, name=args.name, region=args.region, shares_regional=args.share)
    except ValidationError as e:
        first = e.errors()[0]
        print(f"error: {'.'.join(map(str, first['loc']))}={first.get('input')!r}: {first['msg']}", file=sys.stderr)
        return 2
    opened = _database()
    if opened is None:
        return 2
    _, db = opened
    try:
        with db.sessions.begin() as session:
            out = create_organisation(session, body)
            record_sync(session, f"cli:{getpass.getuser()}", "organisation.create", f"organisation:{out.id}", "local",
                        body.model_dump(), now_ms=now_ms())
    except Conflict as e:
        print(f"error: {e.reason}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(f"organisation {out.id} ({out.name}) created; region {out.region or '-'}, "
          f"{'shares' if out.shares_regional else 'does not share'} its data with the regional view", file=sys.stderr)
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    import asyncio
    import getpass

    from furrow.cloud._time import now_ms
    from furrow.cloud.audit import record_sync
    from furrow.cloud.auth import TokenStore

    opened = _database()
    if opened is None:
        return 2
    settings, db = opened
    try:
        found = asyncio.run(TokenStore(db, settings.token_key()).revoke(args.token_id))
        if found:
            with db.sessions.begin() as session:
                record_sync(session, f"cli:{getpass.getuser()}", "token.revoke", f"token:{args.token_id}", "local",
                            now_ms=now_ms())
    finally:
        db.dispose()
    if not found:
        print(f"error: no token {args.token_id!r}", file=sys.stderr)
        return 2
    print(f"token {args.token_id} revoked", file=sys.stderr)
    return 0


def _user_create(args: argparse.Namespace) -> int:
    import getpass

    from furrow.cloud._time import now_ms
    from furrow.cloud.audit import record_sync
    from furrow.cloud.auth import Role
    from furrow.cloud.auth.passwords import set_password_sync

    try:
        if args.password_file is not None:
            password = args.password_file.read_text().split("\n", 1)[0]
        elif sys.stdin.isatty():
            password = getpass.getpass(f"password for {args.name}: ")
        else:
            password = sys.stdin.readline().removesuffix("\n")
    except OSError as e:
        print(f"error: --password-file={args.password_file}: cannot read: {e.strerror or e}", file=sys.stderr)
        return 2
    opened = _database()
    if opened is None:
        return 2
    settings, db = opened
    try:
        with db.sessions.begin() as session:
            at = now_ms()
            created = set_password_sync(session, args.name, Role(args.role), password, now_ms=at,
                                        organisation=args.org, region=args.region)
            record_sync(session, f"cli:{getpass.getuser()}", "user.create" if created else "user.set_password",
                        f"user:{args.name}", "local", {"role": args.role, "organisation": args.org}, now_ms=at)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(f"user {args.name} ({args.role}) {'created' if created else 'has a new password'}; "
          "log in at POST /api/v1/auth/login", file=sys.stderr)
    return 0
