"""The cloud's errors, by kind, each carrying what was wrong: ``field``, ``value``, ``reason``.

Services raise these (and the contract's ``ContractError``, the "invalid" kind); the HTTP edge
(``api/errors.py``) maps each kind to its status in one table and answers every error in one
shape, ``{"detail": [{"field", "value", "reason"}, ...]}``. Nothing here knows about HTTP.

``field`` names the input at fault the way the caller gave it (a query parameter, a dotted path
into a body, a path parameter by its kind: ``zone``, ``node``); it is None only when no input is
(a store that is down). ``value`` is that input as given, never a secret (a token or password is
None); ``reason`` says what is wrong and, where it helps, what to do.
"""

from __future__ import annotations

import json
import math
from typing import Any


class FurrowError(Exception):
    """Base of the kinds below: an error that names the field, the value and the reason."""

    def __init__(self, field: str | None, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}" if field is not None else reason)


class NotFound(FurrowError):
    """No such thing (HTTP 404): an unknown zone, node, command, token ..."""


class Gone(FurrowError):
    """It was here and was taken away on purpose (HTTP 410): a withdrawn open dataset."""


class Conflict(FurrowError):
    """The request is well formed but clashes with the state of things (HTTP 409): a duplicate,
    a zone the planner cannot water, a command already final."""


class Unauthenticated(FurrowError):
    """No valid credential: missing, unknown, expired or revoked, or a wrong password (HTTP 401)."""


class Forbidden(FurrowError):
    """A valid caller that may not do this (HTTP 403): its role, or another gateway's data."""


class RateLimited(FurrowError):
    """Too many attempts (HTTP 429); `retry_after_s` says when to try again."""

    def __init__(self, field: str | None, value: Any, reason: str, retry_after_s: int) -> None:
        super().__init__(field, value, reason)
        self.retry_after_s = retry_after_s


def printable(value: Any, limit: int = 120) -> Any:
    """A JSON-safe, short stand-in for an offending value: what an error may repeat of it.

    Hostile input is what errors repeat most, so nothing here may fail: a NaN or infinity
    becomes its JSON-less name as text, a lone surrogate (invalid UTF-8) its escape, an
    integer too long to print the number of its bits."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > 256:
            return f"an integer of {value.bit_length()} bits"
        return value if -(2**63) <= value < 2**63 else _cut(str(value), limit)
    if isinstance(value, float):
        return value if math.isfinite(value) else ("NaN" if math.isnan(value) else
                                                    "Infinity" if value > 0 else "-Infinity")
    if isinstance(value, bytes | bytearray):
        return _cut(bytes(value).decode("utf-8", "backslashreplace"), limit)
    if isinstance(value, str):
        try:  # bytes that were not UTF-8, read with surrogateescape: shown as those bytes
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate of its own (an escaped "\ud800")
            raw = value.encode("utf-8", "backslashreplace")
        return _cut(raw.decode("utf-8", "backslashreplace"), limit)
    try:
        text = json.dumps(value)  # NaN and lone surrogates come out escaped
    except (TypeError, ValueError):  # not JSON, or an integer past Python's printing limit
        text = f"<{type(value).__name__}>"
    return _cut(text, limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
