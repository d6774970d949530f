"""JSON request bodies as the API takes them, checked once at the boundary for every route.

Python's ``json`` reads more than JSON: ``NaN``, ``Infinity``, ``1e999999`` (an infinity),
integers of any length, and lone surrogates, escaped (``"\\ud800"``) or encoded (bytes ED A0 80),
which no UTF-8 text can hold. Passed on, each made a 500: an error answer that repeats the value
cannot be written as JSON, and SQLite refuses an integer past 64 bits. ``parse_json_body`` takes
RFC 8259 JSON in UTF-8 with finite numbers and integers within 64 bits, and refuses anything
else with a ``ContractError`` naming the field (``readings.0.value``) and its value.

``JsonRoute`` is the route class every API router uses (``APIRouter(route_class=JsonRoute)``):
FastAPI reads a JSON body through it, so a refusal is a 422 before any model or service sees
the body.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from furrow.edge.errors import ContractError

from ..errors import printable

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_MAX_INT_DIGITS = 20  # longer is past 64 bits: never converted (Python refuses past 4,300 digits)


class _LongInteger(str):
    """An integer literal too long for 64 bits, kept as its text."""


def _integer(text: str) -> int | _LongInteger:
    return int(text) if len(text) <= _MAX_INT_DIGITS else _LongInteger(text)


def _problem(value: Any) -> str | None:
    """Why one parsed value is refused, or None."""
    if isinstance(value, _LongInteger) or (isinstance(value, int) and not isinstance(value, bool)
                                            and not INT64_MIN <= value <= INT64_MAX):
        return "an integer outside 64 bits (-2**63 .. 2**63-1)"
    if isinstance(value, float) and not math.isfinite(value):
        return "not a finite number: JSON has no NaN or Infinity, and a double overflows past 1.8e308"
    if isinstance(value, str) and _has_surrogate(value):
        return "not valid UTF-8 text (an invalid byte or a lone surrogate)"
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _path(parts: tuple[str | int, ...]) -> str:
    return ".".join(printable(p) if isinstance(p, str) else str(p) for p in parts) or "body"


def parse_json_body(body: bytes) -> Any:
    """The document in `body`; ContractError naming the first field that is not plain JSON
    (``body`` itself when the text does not parse)."""
    # Bytes that are not UTF-8 become lone surrogates here, so the walk below finds them with
    # their field; outside a string they make the text unparsable.
    text = body.decode("utf-8", "surrogateescape")
    try:
        doc = json.loads(text, parse_int=_integer)
    except json.JSONDecodeError as e:
        raise ContractError("body", printable(text[e.pos:e.pos + 20]), f"not valid JSON: {e.msg} at line "
                            f"{e.lineno} column {e.colno}") from None
    except RecursionError:
        raise ContractError("body", None, "not valid JSON here: arrays or objects nested too deeply") from None
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), doc)]
    while stack:  # a loop, not recursion: the document may be as deep as the parser allows
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if _has_surrogate(key):
                    raise ContractError(_path((*path, key)), printable(key), "a key that is not valid UTF-8 text")
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value))
        elif (reason := _problem(value)) is not None:
            raise ContractError(_path(path), printable(value), reason)
    return doc


class _JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_checked_json"):
            try:
                self._checked_json = parse_json_body(await self.body())
            except ContractError as e:
                # FastAPI passes an HTTPException raised while it reads the body on as it is
                # (any other error becomes a bare 400); api/errors.py answers it in the one shape.
                raise HTTPException(422, [{"field": e.field, "value": e.value, "reason": e.reason}]) from None
        return self._checked_json


class JsonRoute(APIRoute):
    """An API route whose JSON body is read with ``parse_json_body``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(_JsonRequest(request.scope, request.receive))

        return route
