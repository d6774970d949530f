"""`furrow cloud backup` and `furrow cloud restore`: a whole installation in one archive (docs/cloud.md, "Backups").

    furrow cloud backup --out FILE [--passphrase-file FILE | --no-keys]
    furrow cloud restore FILE [--passphrase-file FILE] [--replace]

Both read the installation from the FURROW_* variables, as `furrow cloud run` does. Progress goes to stderr.
`restore` exits 0 when everything was restored and every production record chain verifies, 1 when a chain
does not verify after the restore, 2 when nothing was restored (a damaged archive, a wrong passphrase, a
target that is not empty, ...: the message says which).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PASSPHRASE_ENV = "FURROW_BACKUP_PASSPHRASE"


def register_backup(cloud_sub: argparse._SubParsersAction) -> None:
    b = cloud_sub.add_parser("backup", help="write the database, readings, images and keys to one archive")
    b.add_argument("--out", type=Path, required=True, metavar="FILE", help="the archive to write (a tar)")
    b.add_argument("--passphrase-file", type=Path, metavar="FILE",
                   help=f"the passphrase the keys are encrypted with, first line of FILE (default ${PASSPHRASE_ENV})")
    b.add_argument("--no-keys", action="store_true", help="leave the signing keys, node keys and secret key out")
    b.set_defaults(func=_backup)
    r = cloud_sub.add_parser("restore", help="restore an archive into an empty installation and verify it")
    r.add_argument("archive", type=Path)
    r.add_argument("--passphrase-file", type=Path, metavar="FILE",
                   help=f"the passphrase of the archive's keys, first line of FILE (default ${PASSPHRASE_ENV})")
    r.add_argument("--replace", action="store_true",
                   help="erase what the target installation holds first (it refuses a non-empty one without)")
    r.set_defaults(func=_restore)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _passphrase(args: argparse.Namespace) -> str | None:
    if args.passphrase_file is not None:
        return args.passphrase_file.read_text().split("\n", 1)[0]
    return os.environ.get(PASSPHRASE_ENV) or None


def _backup(args: argparse.Namespace) -> int:
    from furrow.cloud.backup import BackupError, backup

    from .cloud import settings_or_say_why

    settings = settings_or_say_why()
    if settings is None:
        return 2
    try:
        manifest = backup(settings, args.out, None if args.no_keys else _passphrase(args), _say,
                          with_keys=not args.no_keys)
    except (BackupError, OSError) as e:
        print(f"error: backup: {e}", file=sys.stderr)
        return 2
    print(args.out)
    _say(f"backup complete: {len(manifest.parts)} parts; check it with `furrow cloud restore` into an empty "
         "installation")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from furrow.cloud.backup import BackupError, restore

    from .cloud import settings_or_say_why

    settings = settings_or_say_why()
    if settings is None:
        return 2
    try:
        done = restore(settings, args.archive, _passphrase(args), _say, replace=args.replace)
    except (BackupError, OSError) as e:
        print(f"error: restore: {e}", file=sys.stderr)
        return 2
    for line in done.said:
        print(line)
    for r in done.chains:
        print(f"ok   trace {r.field}/{r.season}: {r.records} record(s), signed up to {r.signed_seq}" if r.ok
              else f"BAD  trace {r.problem}")
    if not done.ok:
        _say("restored, but a production record chain does not verify (above)")
        return 1
    _say(f"restore complete; {len(done.chains)} production record chain(s) verify")
    return 0
