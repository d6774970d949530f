"""`furrow trace`: the production records' hash chains (docs/traceability.md).

    furrow trace verify [--database-url URL] [--keys DIR | --hashes-only] [--field F] [--season S] [--json]

`verify` reads the records and signed heads straight from the database (it changes nothing) and checks every
chain: each record's hash over its canonical content and the hash before it, then each signed head against
the public keys (the `.pub` files of the command signing key directory). It prints one line per chain, the
first bad record of a bad one named, and exits 1 if any chain is bad, 0 if all are good, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

KEYS_DIR_ENV = "FURROW_COMMAND_SIGNING_KEYS_DIR"
EXIT_BAD_CHAIN = 1
EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction) -> None:
    trace = sub.add_parser("trace", help="production records: verify their hash chains and signed heads")
    trace_sub = trace.add_subparsers(dest="trace_command", required=True, metavar="COMMAND")
    v = trace_sub.add_parser("verify", help="check every chain and name the first bad record (exit 1 if any)")
    v.add_argument("--database-url", default=os.environ.get("FURROW_DATABASE_URL"),
                   help="SQLAlchemy URL (default $FURROW_DATABASE_URL, else the cloud settings' database)")
    v.add_argument("--keys", type=Path, default=os.environ.get(KEYS_DIR_ENV),
                   help=f"a directory of the signing keys' <kid>.pub files (default ${KEYS_DIR_ENV})")
    v.add_argument("--hashes-only", action="store_true", help="check the hashes but not the signed heads' "
                   "signatures (when the public keys are not at hand)")
    v.add_argument("--field", help="only this field's chains")
    v.add_argument("--season", help="only this season's chains")
    v.add_argument("--json", action="store_true", help="print the reports as JSON")
    v.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from furrow.cloud.commands.signing import SigningKeyError, load_public_keys
    from furrow.cloud.db import Database
    from furrow.cloud.trace.service import verify_all

    keys = None
    if not args.hashes_only:
        if args.keys is None:
            print(f"error: give --keys DIR (the signing keys' .pub files) or set {KEYS_DIR_ENV}; "
                  "--hashes-only checks the chains without the signed heads", file=sys.stderr)
            return EXIT_USAGE
        try:
            keys = load_public_keys(args.keys)
        except SigningKeyError as e:
            print(f"error: --keys: {e}", file=sys.stderr)
            return EXIT_USAGE
    url = args.database_url
    if url is None:
        from .cloud import settings_or_say_why

        settings = settings_or_say_why()
        if settings is None:
            return EXIT_USAGE
        url = settings.resolved_database_url()
    db = Database(url)
    try:
        with db.sessions() as session:
            reports = verify_all(session, keys, args.field, args.season)
    except Exception as e:  # no such database, not a Furrow database, no trace tables yet
        print(f"error: cannot read the production records at {db.engine.url!r}: {str(e).splitlines()[0]}",
              file=sys.stderr)
        return EXIT_USAGE
    finally:
        db.dispose()
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=1))
    else:
        for r in reports:
            if r.ok:
                unsigned = r.records - r.signed_seq
                print(f"ok   {r.field}/{r.season}: {r.records} record(s), {r.checkpoints} signed head(s), signed "
                      f"up to record {r.signed_seq}" + (f" ({unsigned} not yet signed)" if unsigned else ""))
            else:
                print(f"BAD  {r.problem}")
            for w in r.warnings:
                print(f"     warning: {w}")
        if not reports:
            print("no production records", file=sys.stderr)
    bad = [r for r in reports if not r.ok]
    if bad:
        print(f"{len(bad)} of {len(reports)} chain(s) fail; the first bad record: {bad[0].problem}", file=sys.stderr)
        return EXIT_BAD_CHAIN
    return 0
