"""`furrow broker config --out DIR`: Mosquitto's password and ACL files from the registry.

Reads the live node and gateway credentials straight from the cloud database
(FURROW_* settings, as `furrow cloud migrate`), and writes:

  DIR/furrow.passwd        username:$7$... per login (mode 0600)
  DIR/furrow.acl           what each login may publish and subscribe to
  DIR/furrow.conf          the mosquitto.conf lines that use them (include it)
  DIR/service.password     the cloud service's own broker password (mode 0600;
                           made once, then kept, so regenerating does not change it)

After issuing, rotating or revoking credentials, run it again and send the
broker SIGHUP: Mosquitto rereads both files without dropping connections.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

from ._api import write_private

SERVICE_USER = "furrow@cloud"  # '@' is in no node id and no <site>.<gateway> name


def register(sub: argparse._SubParsersAction) -> None:
    broker = sub.add_parser("broker", help="the MQTT brokers' configuration, made from the registry")
    broker_sub = broker.add_subparsers(dest="broker_command", required=True, metavar="COMMAND")
    config = broker_sub.add_parser("config", help="write Mosquitto password, ACL and conf files for every live "
                                   "node and gateway login (and the cloud service's)")
    config.add_argument("--out", type=Path, required=True, metavar="DIR")
    config.add_argument("--root", help="topic root (default FURROW_TOPIC_ROOT)")
    config.add_argument("--service-user", default=SERVICE_USER,
                        help=f"the cloud service's broker login, allowed every site (default {SERVICE_USER})")
    config.add_argument("--service-password-file", type=Path, metavar="FILE",
                        help="its password (default: DIR/service.password, made if missing)")
    config.set_defaults(func=_config)


def _service_password(out: Path, given: Path | None) -> str:
    path = given or out / "service.password"
    if path.exists():
        password = path.read_text().split("\n", 1)[0]
        if password:
            return password
    if given is not None:
        raise ValueError(f"--service-password-file={given}: empty")
    password = secrets.token_urlsafe(32)
    write_private(path, password + "\n")
    return password


def write_broker_files(out: Path, logins: list, root: str, service_user: str, service_password: str) -> dict:
    """Write the three broker files into `out`; their paths by name."""
    from furrow.cloud.identity import BrokerLogin, acl_file, conf_snippet, hash_password, password_file, service_topics

    every = [*logins, BrokerLogin(service_user, hash_password(service_password), service_topics(root))]
    paths = {"password_file": out / "furrow.passwd", "acl_file": out / "furrow.acl", "conf": out / "furrow.conf"}
    write_private(paths["password_file"], password_file(every))
    paths["acl_file"].write_text(acl_file(every))
    paths["conf"].write_text(conf_snippet(str(paths["password_file"].resolve()), str(paths["acl_file"].resolve())))
    return paths


def _config(args: argparse.Namespace) -> int:
    from furrow.cloud.db import Database
    from furrow.cloud.identity import CredentialStore

    from .cloud import settings_or_say_why

    settings = settings_or_say_why()
    if settings is None:
        return 2
    root = args.root or settings.topic_root
    print(f"reading credentials from {settings.resolved_database_url().split('@')[-1]} ...", file=sys.stderr)
    db = Database(settings.resolved_database_url())
    try:
        db.migrate()
        with db.sessions() as session:
            logins = CredentialStore(db, root).logins_sync(session)
    finally:
        db.dispose()
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        service_password = _service_password(args.out, args.service_password_file)
        paths = write_broker_files(args.out, logins, root, args.service_user, service_password)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, path in paths.items():
        print(f"wrote {path} ({name})", file=sys.stderr)
    print(f"{len(logins)} device login(s) and the service login {args.service_user!r} under topic root {root!r}; "
          "send the broker SIGHUP to load them", file=sys.stderr)
    return 0
