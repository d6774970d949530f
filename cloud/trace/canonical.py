"""The canonical form a production record is hashed and a chain head signed in: RFC 8785, the JSON
Canonicalization Scheme (JCS), for the values records hold (objects, arrays, strings, integers, finite
floats, booleans, null).

JCS writes an object's members sorted by their keys' UTF-16 code units, no whitespace, strings with only
``"``, ``\\`` and control characters escaped, UTF-8 out, and numbers as ECMAScript's Number.prototype.toString
writes them (the shortest digits that read back as the same double: 4.50 -> ``4.5``, 1E30 -> ``1e+30``,
2e-3 -> ``0.002``). Python's json.dumps does the rest the same way; only its float form differs (``1.0``,
``1e-07``), so numbers are written here. Integers beyond 2**53 are refused: a JCS reader reads every number
as a double and would not get them back.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalError(ValueError):
    """A value JCS cannot write; the message names where it is."""


def _number(x: float) -> str:
    """ECMAScript Number::toString of a finite double (ECMA-262, 7.1.12.1)."""
    if x == 0:
        return "0"  # -0 too
    if x < 0:
        return "-" + _number(-x)
    # repr gives the shortest digits that read back as x; as digits * 10**exp, trailing zeros dropped
    _, digit_tuple, exp = Decimal(repr(x)).normalize().as_tuple()
    s = "".join(map(str, digit_tuple))
    n = len(s) + int(exp)  # x = 0.s * 10**n
    k = len(s)
    if k <= n <= 21:
        return s + "0" * (n - k)
    if 0 < n <= 21:
        return s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + s
    e = n - 1
    sign = "+" if e >= 0 else "-"
    return (s[0] + ("." + s[1:] if k > 1 else "")) + "e" + sign + str(abs(e))


def _write(value: Any, path: str, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalError(f"{path or 'value'}: integer {value} is beyond 2**53, which JCS cannot carry")
        out.append(str(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalError(f"{path or 'value'}: {value} is not a finite number")
        out.append(_number(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalError(f"{path or 'value'}: key {key!r} is not a string")
        out.append("{")
        for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be"))):
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _write(value[key], f"{path}.{key}" if path else key, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, f"{path}[{i}]", out)
        out.append("]")
    else:
        raise CanonicalError(f"{path or 'value'}: {type(value).__name__} has no JSON form")


def canonical_json(value: Any) -> bytes:
    """`value` in RFC 8785 canonical form, UTF-8 (CanonicalError naming the place of a value it cannot write)."""
    out: list[str] = []
    _write(value, "", out)
    return "".join(out).encode("utf-8")
