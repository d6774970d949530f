"""`furrow broker config --out DIR`: Mosquitto's listeners, password and ACL files from the registry.

Reads the live node and gateway credentials straight from the cloud database
(FURROW_* settings, as `furrow cloud migrate`), and writes:

  DIR/furrow.passwd        username:$7$... per device login (mode 0600)
  DIR/furrow.acl           what each device login may publish and subscribe to
  DIR/service.passwd       the cloud service's login (mode 0600), for its own listener
  DIR/service.acl          what the service login may do (everything)
  DIR/furrow.conf          the listeners that use them (include it)
  DIR/service.password     the cloud service's own broker password (mode 0600;
                           made once, then kept, so regenerating does not change it)

On the devices' listener every client id is the login's username, so no login
can take over another's session; the service listener is for the cloud's
workers only (docs/security.md, "Client ids"). After issuing, rotating or
revoking credentials, run it again and send the broker SIGHUP: Mosquitto
rereads the files without dropping connections.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ._api import write_private

if TYPE_CHECKING:
    from furrow.cloud.identity.mosquitto import Listener

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
    config.add_argument("--listen", default="1883", metavar="[HOST:]PORT",
                        help="the nodes' and gateways' listener (default 1883, every interface)")
    config.add_argument("--service-listen", default="127.0.0.1:1884", metavar="[HOST:]PORT|none",
                        help="the cloud workers' listener (default 127.0.0.1:1884); 'none' on a farm broker")
    config.add_argument("--certfile", metavar="FILE", help="TLS on the devices' listener: the server certificate")
    config.add_argument("--keyfile", metavar="FILE", help="... and its key")
    config.add_argument("--client-cafile", metavar="FILE",
                        help="... and require client certificates signed by this CA (mutual TLS)")
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


def write_broker_files(out: Path, logins: list, root: str, service_user: str, service_password: str,
                       devices: Listener, service: Listener | None) -> dict:
    """Write the broker files into `out` (no service listener nor login when `service` is None);
    their paths by name."""
    from furrow.cloud.identity import BrokerLogin, acl_file, conf_snippet, hash_password, password_file, service_topics

    paths = {"password_file": out / "furrow.passwd", "acl_file": out / "furrow.acl",
             "service_password_file": out / "service.passwd", "service_acl_file": out / "service.acl",
             "conf": out / "furrow.conf"}
    write_private(paths["password_file"], password_file(logins))
    paths["acl_file"].write_text(acl_file(logins))
    if service is None:
        for name in ("service_password_file", "service_acl_file"):
            paths.pop(name).unlink(missing_ok=True)  # a farm broker keeps no service login
    else:
        login = BrokerLogin(service_user, hash_password(service_password), service_topics(root))
        write_private(paths["service_password_file"], password_file([login]))
        paths["service_acl_file"].write_text(acl_file([login]))
    full = {name: str(path.resolve()) for name, path in paths.items()}
    paths["conf"].write_text(conf_snippet(devices, full["password_file"], full["acl_file"], service,
                                          full.get("service_password_file", ""), full.get("service_acl_file", "")))
    return paths


def _listeners(args: argparse.Namespace) -> tuple[Listener, Listener | None]:
    from furrow.cloud.identity.mosquitto import Listener

    devices = Listener.parse(args.listen)
    devices = Listener(devices.port, devices.host, args.certfile, args.keyfile, args.client_cafile)
    service = None if args.service_listen == "none" else Listener.parse(args.service_listen)
    if service is not None and (service.port, service.host) == (devices.port, devices.host):
        raise ValueError(f"--service-listen {args.service_listen}: the devices' listener is already there")
    return devices, service


def _config(args: argparse.Namespace) -> int:
    from furrow.cloud.db import Database
    from furrow.cloud.identity import CredentialStore

    from .cloud import settings_or_say_why

    settings = settings_or_say_why()
    if settings is None:
        return 2
    root = args.root or settings.topic_root
    try:
        devices, service = _listeners(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
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
        paths = write_broker_files(args.out, logins, root, args.service_user, service_password, devices, service)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, path in paths.items():
        print(f"wrote {path} ({name})", file=sys.stderr)
    where = ("no service listener" if service is None
             else f"the service login {args.service_user!r} on {args.service_listen}")
    print(f"{len(logins)} device login(s) on {args.listen} and {where}, under topic root {root!r}; "
          "send the broker SIGHUP to load them", file=sys.stderr)
    return 0
