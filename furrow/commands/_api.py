"""A small client of the cloud API for the commissioning commands: clear errors, one line each."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx

DEFAULT_API = "http://127.0.0.1:8000"


class ApiError(Exception):
    """The API could not be used; the message says why and what to do. `status` is the HTTP
    status of the answer, None when there was none (unreachable, no token)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def add_api_arguments(parser) -> None:  # noqa: ANN001 - an argparse parser
    parser.add_argument("--api", default=os.environ.get("FURROW_API_URL", DEFAULT_API),
                        help=f"the cloud API (default FURROW_API_URL or {DEFAULT_API})")
    parser.add_argument("--token", default=None,
                        help="API token (default FURROW_API_TOKEN; prefer that or --token-file: a command line "
                        "is visible to other users of the machine)")
    parser.add_argument("--token-file", type=Path, metavar="FILE", help="read the API token from FILE")
    parser.add_argument("--ca-file", type=Path, metavar="FILE", help="trust this CA for an https:// API")


class Api:
    def __init__(self, args) -> None:  # noqa: ANN001 - argparse namespace
        token = args.token or os.environ.get("FURROW_API_TOKEN")
        if args.token_file is not None:
            try:
                token = args.token_file.read_text().strip()
            except OSError as e:
                raise ApiError(f"--token-file={args.token_file}: cannot read: {e.strerror or e}") from None
        if not token:
            raise ApiError("no API token: give --token-file FILE or set FURROW_API_TOKEN "
                           "(a technician's or admin's token: `furrow cloud token create --role technician`)")
        self.base = args.api.rstrip("/")
        verify: Any = str(args.ca_file) if args.ca_file is not None else True
        self._http = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"},
                                  timeout=15.0, verify=verify)

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, json: Any = None, ok: tuple[int, ...] = (200, 201, 204)) -> httpx.Response:
        try:
            r = self._http.request(method, "/api/v1" + path, json=json)
        except httpx.HTTPError as e:
            raise ApiError(f"cannot reach the API at {self.base}: {type(e).__name__}: {e}") from None
        if r.status_code in ok:
            return r
        detail = _detail(r)
        if r.status_code == 401:
            raise ApiError(f"the API at {self.base} refused the token ({detail}); get a new one", 401)
        if r.status_code == 403:
            raise ApiError(f"not allowed by the API at {self.base}: {detail}", 403)
        raise ApiError(f"{method} {path}: HTTP {r.status_code}: {detail}", r.status_code)


def _detail(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail", r.text)
    except ValueError:
        return r.text[:200]
    if isinstance(detail, list):  # the API's one error shape: [{field, value, reason}, ...]
        return "; ".join(f"{d.get('field')}={d.get('value')!r}: {d.get('reason')}" if d.get("field") is not None
                         else str(d.get("reason")) for d in detail if isinstance(d, dict))[:300]
    return str(detail)[:300]


def step(n: int, total: int, text: str) -> None:
    """Progress on stderr, so stdout stays for what a script may read."""
    print(f"[{n}/{total}] {text}", file=sys.stderr, flush=True)


def write_private(path: Path, text: str) -> None:
    """Write a file holding secrets, readable by its owner only from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT


def reachable(api: Api, total: int) -> None:
    """Step 1 of every field command: the API answers and who we are to it."""
    me = api.call("GET", "/auth/me").json()
    step(1, total, f"API {api.base} reachable, as {me['name']} ({me['role']})")
