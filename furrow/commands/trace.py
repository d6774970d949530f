"""`furrow trace`: the production records' hash chains (docs/traceability.md).

    furrow trace verify [--database-url URL] [--keys DIR | --hashes-only] [--heads FILE] [--field F] [--season S]
                        [--json]
    furrow trace export-heads --out FILE [--database-url URL]

`verify` reads the records and signed heads straight from the database (it changes nothing) and checks every
chain: each record's hash over its canonical content and the hash before it, then each signed head against
the public keys (the `.pub` files of the command signing key directory). It prints one line per chain, the
first bad record of a bad one named, and exits 1 if any chain is bad, 0 if all are good, 2 for bad arguments.
With `--heads FILE` (what `export-heads` wrote, kept away from the database) it also fails when a chain is
gone, or shorter than, or rewritten up to, the head the file holds for it: what the database alone cannot show.
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
    v.add_argument("--heads", type=Path, metavar="FILE", help="also check the chains against the signed heads "
                   "`furrow trace export-heads` wrote: a chain deleted, cut short or rewritten fails")
    v.set_defaults(func=_verify)
    x = trace_sub.add_parser("export-heads", help="write every chain's newest signed head to a file, to keep "
                             "somewhere else (verify --heads checks against it)")
    x.add_argument("--out", type=Path, required=True, metavar="FILE", help="the JSON file to write ('-': stdout)")
    x.add_argument("--database-url", default=os.environ.get("FURROW_DATABASE_URL"),
                   help="SQLAlchemy URL (default $FURROW_DATABASE_URL, else the cloud settings' database)")
    x.set_defaults(func=_export_heads)


def _url(args: argparse.Namespace) -> str | None:
    if args.database_url is not None:
        return args.database_url
    from .cloud import settings_or_say_why

    settings = settings_or_say_why()
    return None if settings is None else settings.resolved_database_url()


def _export_heads(args: argparse.Namespace) -> int:
    from furrow.cloud._time import now_ms
    from furrow.cloud.db import Database
    from furrow.cloud.trace.heads import export

    url = _url(args)
    if url is None:
        return EXIT_USAGE
    db = Database(url)
    try:
        with db.sessions() as session:
            doc = export(session, now_ms())
    except Exception as e:  # no such database, no trace tables
        print(f"error: cannot read the signed heads at {db.engine.url!r}: {str(e).splitlines()[0]}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        db.dispose()
    text = json.dumps(doc, indent=1) + "\n"
    if str(args.out) == "-":
        sys.stdout.write(text)
    else:
        tmp = args.out.with_name(args.out.name + ".partial")
        tmp.write_text(text)
        tmp.replace(args.out)
        print(f"{len(doc['heads'])} signed head(s) written to {args.out}; keep it away from this database's "
              "machine", file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from furrow.cloud.commands.signing import SigningKeyError, load_public_keys
    from furrow.cloud.db import Database
    from furrow.cloud.trace.heads import check as check_heads
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
    heads = None
    if args.heads is not None:
        from furrow.cloud.trace.heads import HeadsError, parse

        try:
            heads = parse(json.loads(args.heads.read_text()), str(args.heads))
        except (OSError, ValueError) as e:
            why = e if isinstance(e, HeadsError) else f"{args.heads}: cannot read it as JSON: {e}"
            print(f"error: --heads: {why}", file=sys.stderr)
            return EXIT_USAGE
        heads = [h for h in heads if (args.field in (None, h["field"]) and args.season in (None, h["season"]))]
    url = _url(args)
    if url is None:
        return EXIT_USAGE
    db = Database(url)
    try:
        with db.sessions() as session:
            reports = verify_all(session, keys, args.field, args.season)
            if heads is not None:
                reports = _with_heads(reports, check_heads(session, heads, keys))
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


def _with_heads(reports: list, against: list) -> list:
    """The database's own reports, each replaced by the exported head's report when that one fails and the
    database's does not; chains only the heads file names (deleted ones) are added."""
    by_chain = {(r.field, r.season): i for i, r in enumerate(reports)}
    out = list(reports)
    for h in against:
        i = by_chain.get((h.field, h.season))
        if i is None:
            out.append(h)
        elif out[i].ok and not h.ok:
            out[i] = h
    return out
