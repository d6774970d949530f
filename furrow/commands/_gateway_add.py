"""`furrow gateway add SITE GATEWAY --out DIR`: a gateway's broker credentials as a TOML snippet."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._api import Api, ApiError, add_api_arguments, reachable, step, write_private


def register_add(gateway_sub: argparse._SubParsersAction) -> None:
    add = gateway_sub.add_parser("add", help="issue (or rotate) a gateway's broker credentials and write a "
                                 "TOML snippet for its config",
                                 description="Register GATEWAY under SITE through the cloud API, issue its MQTT "
                                 "credentials (its site's topics only) and write DIR/<site>.<gateway>.toml.")
    add.add_argument("site")
    add.add_argument("gateway")
    add.add_argument("--out", type=Path, required=True, metavar="DIR")
    add.add_argument("--cloud-host", default="cloud.example.org", help="the cloud broker")
    add.add_argument("--cloud-port", type=int, default=8883)
    add.add_argument("--cloud-ca-file", type=Path, metavar="FILE", help="the CA that signed the cloud broker's "
                     "certificate (TLS; default: the system's CAs)")
    add.add_argument("--farm-host", default="127.0.0.1", help="the farm broker, next to the gateway")
    add.add_argument("--farm-port", type=int, default=1883)
    add_api_arguments(add)
    add.set_defaults(func=_add)


def _q(value: Any) -> str:
    # JSON strings of plain text are valid TOML basic strings.
    return json.dumps(str(value)) if not isinstance(value, int) else str(value)


def gateway_snippet(site: str, gateway: str, creds: dict[str, Any], cloud: dict[str, Any],
                    farm: dict[str, Any]) -> str:
    """The TOML tables a gateway config needs for its logins (the rest: gateway/gateway.example.toml)."""
    lines = [f"# furrow gateway add {site} {gateway}: broker credentials, issued at {creds['issued_ms']} ms.",
             "# The password is shown only here: keep this file private (mode 0600).",
             f"site = {_q(site)}", f"gateway_id = {_q(gateway)}",
             "# this cloud sends receipts: a batch leaves the buffer only with its receipt, from the first on",
             'receipts = "required"', ""]
    for table, broker in (("farm_broker", farm), ("cloud_broker", cloud)):
        lines.append(f"[{table}]")
        lines += [f"{k} = {_q(v)}" for k, v in broker.items() if v is not None]
        lines += [f"username = {_q(creds['username'])}", f"password = {_q(creds['password'])}", ""]
    return "\n".join(lines)


def _add(args: argparse.Namespace) -> int:
    from furrow.gateway.config import GatewayConfig

    total = 3
    try:
        api = Api(args)
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        reachable(api, total)
        creds = api.call("POST", f"/gateways/{args.site}/{args.gateway}/credentials").json()
        step(2, total, f"broker credentials issued: user {creds['username']}, topics {creds['topics']['publish'][0]}")
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        api.close()
    cloud = {"host": args.cloud_host, "port": args.cloud_port,
             "ca_file": str(args.cloud_ca_file) if args.cloud_ca_file else None}
    farm = {"host": args.farm_host, "port": args.farm_port}
    text = gateway_snippet(args.site, args.gateway, creds, cloud, farm)
    # The snippet must load as part of a gateway config: check it with the gateway's own model.
    import tomllib

    parsed = tomllib.loads(text)
    GatewayConfig.model_validate({**parsed, "buffer_path": "buffer.db"})
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.site}.{args.gateway}.toml"
    write_private(path, text)
    step(3, total, f"wrote {path}: merge it into the gateway's config; then `furrow broker config` "
         "and SIGHUP the brokers")
    return 0
