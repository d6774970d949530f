"""What the gateway checks at start-up about its brokers, so a setup that would lose data is
said out loud (in the log and in /health) instead of found out after the loss.

Each check returns warnings, one sentence each, saying what is wrong and what it costs. The
checks are pure (config and settings in, warnings out); reading the broker's config file and
looking at its store's folder happen at the edge (`farm_broker_warnings`, `why_not_writable`).

Mosquitto tells a client nothing about its persistence, so the farm broker's settings are read
from its config file, which is on this box (docs/gateway.md). A broker whose store folder it
cannot write keeps running without a store and says so only in its own log.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import GatewayConfig

log = logging.getLogger(__name__)


def shared_login_warnings(config: GatewayConfig) -> list[str]:
    """The farm and cloud links on one broker with one login: where `furrow broker config` binds
    client ids to logins, both connections get the same id and knock each other off."""
    farm, cloud = config.farm_broker, config.cloud_broker
    if farm.username is None or (farm.host, farm.port, farm.username) != (cloud.host, cloud.port, cloud.username):
        return []
    return [f"[farm_broker] and [cloud_broker] are one broker ({farm.host}:{farm.port}) with one login "
            f"({farm.username!r}): a broker that binds client ids to logins (furrow broker config) gives both "
            "links the same session, and they knock each other off; use a farm broker and a cloud broker "
            "(docs/gateway.md, 'The farm broker')"]


# --- the farm broker's persistence (Mosquitto), read from its config file on this box -----------

DEFAULT_MAX_QUEUED = 1000  # Mosquitto 2.0's default max_queued_messages
DEFAULT_AUTOSAVE_S = 1800  # ... and autosave_interval
AUTOSAVE_WARN_S = 60  # docs/gateway.md asks for 10 s; beyond a minute a broker crash costs a minute of queue


@dataclass(frozen=True, slots=True)
class MosquittoSetup:
    """The settings of a Mosquitto config (with its include_dir files) that durability rests on."""

    conf: Path
    persistence: bool = False
    location: Path | None = None
    autosave_interval_s: int = DEFAULT_AUTOSAVE_S
    max_queued_messages: int = DEFAULT_MAX_QUEUED
    user: str = "mosquitto"


def read_mosquitto_conf(path: Path) -> MosquittoSetup:
    """The durability settings of the Mosquitto config at `path`, following its ``include_dir``
    lines as Mosquitto does (files ending ``.conf``, upper case before lower case of each letter);
    the last value of an option wins. Raises OSError when a file cannot be read and ValueError
    naming the file, line and option when a number is not one."""
    values: dict[str, str] = {}
    _read_conf(path, values, main=True)
    try:
        return MosquittoSetup(
            conf=path,
            persistence=values.get("persistence", "false").lower() == "true",
            location=Path(values["persistence_location"]) if "persistence_location" in values else None,
            autosave_interval_s=int(values.get("autosave_interval", DEFAULT_AUTOSAVE_S)),
            max_queued_messages=int(values.get("max_queued_messages", DEFAULT_MAX_QUEUED)),
            user=values.get("user", "mosquitto"),
        )
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


_OPTIONS = ("persistence", "persistence_location", "autosave_interval", "max_queued_messages", "user")


def _read_conf(path: Path, values: dict[str, str], main: bool) -> None:
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        name, _, value = line.strip().partition(" ")
        if name in _OPTIONS:
            values[name] = value.strip()
        elif name == "include_dir" and main:  # Mosquitto follows include_dir in the main file only
            folder = Path(value.strip())
            names = sorted((p.name for p in folder.iterdir() if p.name.endswith(".conf")),
                           key=lambda n: [(c.lower(), c.islower()) for c in n])
            for name in names:
                _read_conf(folder / name, values, main=False)


def persistence_warnings(setup: MosquittoSetup, why_not_writable: Callable[[Path, str], str | None]) -> list[str]:
    """What in `setup` loses readings the broker acknowledged to the nodes. `why_not_writable(dir,
    user)` says why `user` cannot create files in `dir`, or None when it can."""
    where = f"farm broker ({setup.conf})"
    out = []
    if not setup.persistence:
        out.append(f"{where}: persistence is off: a broker restart loses every reading queued for the gateway")
    elif setup.location is None:
        out.append(f"{where}: persistence_location is not set: the store goes in whatever folder the broker "
                   "starts in; set it to a folder its user owns")
    else:
        why = why_not_writable(setup.location, setup.user)
        if why is not None:
            out.append(f"{where}: persistence_location {setup.location}: {why}: the broker runs without its store "
                       "and a restart loses every reading queued for the gateway")
        elif setup.autosave_interval_s == 0 or setup.autosave_interval_s > AUTOSAVE_WARN_S:
            every = "only at a clean stop" if setup.autosave_interval_s == 0 else (
                f"every {setup.autosave_interval_s} s")
            out.append(f"{where}: autosave_interval {setup.autosave_interval_s}: the store is saved {every}, so a "
                       "broker crash loses what it queued since; set it to 10")
    if setup.max_queued_messages != 0:
        out.append(f"{where}: max_queued_messages {setup.max_queued_messages}: while the gateway is away the broker "
                   f"drops every reading past the first {setup.max_queued_messages}; set it to 0 and bound "
                   "max_queued_bytes instead")
    return out


def why_not_writable(folder: Path, user: str) -> str | None:
    """Why Mosquitto running as `user` (and its primary group, as Mosquitto drops to) cannot
    create its store in `folder`; None when it can."""
    try:
        st = folder.stat()
    except FileNotFoundError:
        return "no such folder"
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "not a folder"
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        return "on a read-only file system"
    try:
        # Without a "mosquitto" account Mosquitto runs as "nobody".
        account = pwd.getpwnam(user if user != "mosquitto" or _has_user(user) else "nobody")
    except KeyError:
        return f"there is no user {user!r} for the broker to run as"
    if account.pw_uid == 0:
        return None
    for parent in folder.resolve().parents:  # every folder above must let the user through
        if not _allows(parent.stat(), account, stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH):
            return f"{parent} ({_owner(parent.stat())}) does not let user {user!r} through"
    if not _allows(st, account, stat.S_IWUSR | stat.S_IXUSR, stat.S_IWGRP | stat.S_IXGRP, stat.S_IWOTH | stat.S_IXOTH):
        return f"{_owner(st)}: user {user!r} cannot write it"
    return None


def _allows(st: os.stat_result, account: pwd.struct_passwd, owner: int, group: int, others: int) -> bool:
    """Whether the permission bits give `account` (with its primary group) every bit asked."""
    if st.st_uid == account.pw_uid:
        want = owner
    elif st.st_gid == account.pw_gid:
        want = group
    else:
        want = others
    return st.st_mode & want == want


def _owner(st: os.stat_result) -> str:
    return f"owned by {st.st_uid}:{st.st_gid}, mode {stat.S_IMODE(st.st_mode):04o}"


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def farm_broker_warnings(config: GatewayConfig) -> list[str]:
    """Read the farm broker's config named by ``[farm_broker] mosquitto_conf`` and check its
    persistence; [] when nothing is wrong or there is nothing to read (logged)."""
    path = config.farm_broker.mosquitto_conf
    if path is None:
        log.info("farm broker persistence not checked: set [farm_broker] mosquitto_conf when it runs on this box "
                 "(docs/gateway.md, 'Checking the farm broker')")
        return []
    try:
        setup = read_mosquitto_conf(path)
    except (OSError, ValueError) as e:
        return [f"farm broker: cannot check its persistence: {e}"]
    return persistence_warnings(setup, why_not_writable)
