"""`furrow cloud keys`: the keys irrigation commands are signed with (docs/security.md, "Signed commands")."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

KEYS_DIR_ENV = "FURROW_COMMAND_SIGNING_KEYS_DIR"
NODE_KEYS_ENV = "FURROW_COMMAND_NODE_KEYS_FILE"


def register_keys(cloud_sub: argparse._SubParsersAction) -> None:
    keys = cloud_sub.add_parser("keys", help="command signing keys (Ed25519) and node keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    default_dir = os.environ.get(KEYS_DIR_ENV)
    gen = keys_sub.add_parser("generate", help="make a new signing key pair; the cloud signs with the newest "
                              "after a restart, so give its .pub to every gateway first")
    gen.add_argument("--dir", type=Path, default=default_dir, help=f"the key directory (default ${KEYS_DIR_ENV})")
    gen.set_defaults(func=_generate)
    lst = keys_sub.add_parser("list", help="the keys of the directory, and which one signs")
    lst.add_argument("--dir", type=Path, default=default_dir, help=f"the key directory (default ${KEYS_DIR_ENV})")
    lst.set_defaults(func=_list)
    default_file = os.environ.get(NODE_KEYS_ENV)
    node = keys_sub.add_parser("node-key", help="make a node key for an irrigation node and print it (hex) for "
                               "the node's config.json (cmd_key); replaces an older one")
    node.add_argument("node")
    node.add_argument("--file", type=Path, default=default_file, help=f"the node key file (default ${NODE_KEYS_ENV})")
    node.set_defaults(func=_node_key)


def _missing(path: Path | None, option: str, variable: str) -> bool:
    """True after one line saying how to give `option`, when it was given neither way."""
    if path is None:
        print(f"error: give {option} or set {variable}", file=sys.stderr)
    return path is None


def _generate(args: argparse.Namespace) -> int:
    from furrow.cloud.commands.signing import generate_key

    if _missing(args.dir, "--dir DIR", KEYS_DIR_ENV):
        return 2

    kid, private, public = generate_key(args.dir)
    print(kid)
    print(f"private key {private} (mode 0600, stays in the cloud); public key {public}: add it to every "
          f"gateway's [command_auth] keys as {kid} = \"<path>\" before the cloud signs with it", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    from furrow.cloud.commands.signing import PUBLIC_SUFFIX, SigningKeyError, load_private_keys

    if _missing(args.dir, "--dir DIR", KEYS_DIR_ENV):
        return 2

    try:
        keys = load_private_keys(args.dir)
    except SigningKeyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    newest = max(keys) if keys else None
    for kid in sorted(keys):
        pub = args.dir / (kid + PUBLIC_SUFFIX)
        print(f"{kid}\t{pub if pub.exists() else '(no .pub)'}\t{'signs' if kid == newest else ''}".rstrip())
    return 0


def _node_key(args: argparse.Namespace) -> int:
    from furrow.cloud.commands.signing import add_node_key
    from furrow.edge.errors import ContractError

    if _missing(args.file, "--file FILE", NODE_KEYS_ENV):
        return 2

    try:
        key = add_node_key(args.file, args.node)
    except (ContractError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(key)
    print(f"node key of {args.node} stored in {args.file}; put it in the node's config.json as \"cmd_key\" "
          "and restart the cloud", file=sys.stderr)
    return 0
