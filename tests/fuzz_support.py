"""The fuzzing engine shared by tests/test_fuzz_decoders.py (hypothesis) and bench/fuzz.py (long runs).

A target is one decoder at a trust boundary. It has a generator that draws an
input from a ``random.Random`` (a valid input, then mutated: bit flips,
truncation, splices, wrong types, huge numbers, NaN/inf, deep nesting, long
strings, bad UTF-8), and a ``decode`` that feeds the input to the real
decoder. `run_one` classifies what happened:

* ``accepted`` (or a label the target returns, e.g. ``accepted:exception-02``),
* ``rejected:<reason class>``: the decoder raised its documented rejection
  error and the error names the field and the value (else it counts as a crash),
* a crash: anything else, re-raised as `Crash` carrying the input.

Because the generators take a ``random.Random``, hypothesis drives them with
``st.randoms()`` in the short run (and shrinks what it finds), and the long
run drives them with a seeded ``random.Random`` per input (reproducible by
seed). `minimize` shrinks a crashing input for the reproducer file.
"""

from __future__ import annotations

import math
import random
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# -- values a hostile sender likes ---------------------------------------------

NASTY_SCALARS: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 255, 256, 65535, 65536, 2**31, 2**32, 2**63, 2**64, -(2**63), 10**30,
    1e308, -1e308, math.nan, math.inf, -math.inf, 0.5, -0.0, 1e-320,
    "", "x", "é", "\x00", "\ud7ff", "0", "1.0", "null", "NaN", "../../etc/passwd", "a/b/#", "+",
    "DROP TABLE readings;", "\u202e", "🌱",
)


def nasty_value(rng: random.Random) -> Any:
    """A wrong-typed, out-of-range or oversized value for any field."""
    pick = rng.random()
    if pick < 0.6:
        return rng.choice(NASTY_SCALARS)
    if pick < 0.7:
        return rng.choice("ab\x00é") * rng.choice((33, 65, 201, 10_000, 100_000))
    if pick < 0.8:
        return [rng.choice(NASTY_SCALARS) for _ in range(rng.randrange(0, 5))]
    if pick < 0.9:
        return {rng.choice(("", "v", "value", "node", "x" * 50)): rng.choice(NASTY_SCALARS)}
    value: Any = rng.choice(NASTY_SCALARS)
    for _ in range(rng.randrange(1, 200)):  # nested, but within what json.dumps itself can write
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


# -- structure-level mutations (before encoding) ------------------------------


def _paths(obj: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _parent(obj: Any, path: tuple) -> Any:
    for key in path[:-1]:
        obj = obj[key]
    return obj


def mutate_structure(obj: Any, rng: random.Random, rounds: int | None = None) -> Any:
    """Change a decoded document in place-like fashion (returns the new one): replace a
    value with a nasty one, delete a key or element, add an unknown key, duplicate an element."""
    for _ in range(rounds if rounds is not None else rng.choice((1, 1, 1, 2, 3))):
        paths = list(_paths(obj))
        path = rng.choice(paths)
        if not path:
            if rng.random() < 0.5:
                obj = nasty_value(rng)
            else:
                obj = [obj] if rng.random() < 0.5 else {"payload": obj}
            continue
        parent = _parent(obj, path)
        key = path[-1]
        op = rng.random()
        if op < 0.65:
            parent[key] = nasty_value(rng)
        elif op < 0.8:
            del parent[key]
        elif op < 0.9 and isinstance(parent, dict):
            parent[rng.choice(("extra", "v2", "__proto__", "x" * 40))] = nasty_value(rng)
        elif isinstance(parent, list):
            parent.insert(rng.randrange(len(parent) + 1), parent[key])
        else:
            parent[key] = str(parent[key]) if not isinstance(parent[key], str) else parent[key] * 3
    return obj


# -- byte-level mutations (after encoding) -------------------------------------

_INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A)


def mutate_bytes(data: bytes, rng: random.Random, pool: list[bytes] | None = None) -> bytes:
    """One to four byte-level edits: bit flips, truncation, slice removal or
    duplication, splices with another sample, interesting bytes, bad UTF-8."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4))):
        n = len(out)
        op = rng.randrange(9)
        if op == 0 and n:  # bit flips
            for _ in range(rng.randrange(1, 9)):
                i = rng.randrange(n)
                out[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # truncate
            del out[rng.randrange(n + 1):]
        elif op == 2 and n:  # drop a slice
            i = rng.randrange(n)
            del out[i:i + rng.randrange(1, 17)]
        elif op == 3 and n:  # duplicate a slice
            i = rng.randrange(n)
            j = min(n, i + rng.randrange(1, 33))
            out[i:i] = out[i:j] * rng.randrange(1, 4)
        elif op == 4 and pool:  # splice with another valid sample
            other = rng.choice(pool)
            i, j = rng.randrange(n + 1), rng.randrange(len(other) + 1)
            out = out[:i] + bytearray(other[j:])
        elif op == 5 and n:  # interesting byte
            out[rng.randrange(n)] = rng.choice(_INTERESTING)
        elif op == 6:  # bad UTF-8 / stray bytes
            i = rng.randrange(n + 1)
            out[i:i] = rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\xef\xbb\xbf"))
        elif op == 7:  # random bytes
            i = rng.randrange(n + 1)
            out[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif n:  # overwrite with a run
            i = rng.randrange(n)
            out[i:i + 4] = bytes([rng.choice(_INTERESTING)]) * 4
    return bytes(out)


def json_text_attack(rng: random.Random) -> bytes:
    """JSON texts that attack the parser rather than the schema."""
    depth = rng.choice((10, 500, 1_000, 5_000, 100_000))
    pick = rng.randrange(8)
    if pick == 0:
        return b"[" * depth + b"]" * depth
    if pick == 1:
        return b'{"a":' * depth + b"1" + b"}" * depth
    if pick == 2:
        return b'{"v": "1.0", "seq": ' + b"9" * rng.choice((19, 400, 5_000)) + b"}"
    if pick == 3:
        return b'{"v": "1.0", "ts_ms": 1e999, "bat_v": NaN, "rssi_dbm": -Infinity}'
    if pick == 4:
        return '{"v": "1.0", "node": "s\u00e9"}'.encode(rng.choice(("utf-16", "utf-32", "utf-8")))
    if pick == 5:
        return b'{"v": "1.0", "node": "\\ud800"}'
    if pick == 6:
        return b'{"a": 1, "a": 2, "readings": ' + b'"' + b"x" * rng.choice((10, 100_000)) + b'"}'
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))


# -- targets -------------------------------------------------------------------


class Crash(Exception):
    """A decoder raised something other than its documented rejection (or a
    rejection without a usable reason)."""

    def __init__(self, target: str, data: Any, error: BaseException) -> None:
        self.target = target
        self.data = data
        self.error = error
        self.trace = "".join(traceback.format_exception(error))
        super().__init__(f"{target}: {type(error).__name__}: {error!s:.300} on input {data!r:.300}")


@dataclass(frozen=True)
class Target:
    """One decoder: how to draw an input, how to feed it, and what rejection looks like.

    `decode` returns a label ("accepted", or a finer one) or raises one of
    `rejects`; `reason(e)` turns such an error into a short reason class and
    raises AssertionError when the error does not name the field and value.
    """

    name: str
    generate: Callable[[random.Random], Any]
    decode: Callable[[Any], str]
    rejects: tuple[type[BaseException], ...]
    reason: Callable[[BaseException], str]
    describe: str = ""


def run_one(target: Target, data: Any) -> str:
    """Feed one input; return "accepted..." or "rejected:<class>"; raise Crash otherwise."""
    try:
        return target.decode(data)
    except target.rejects as e:
        try:
            return "rejected:" + target.reason(e)
        except AssertionError as bad:
            raise Crash(target.name, data, bad) from None
    except Exception as e:  # noqa: BLE001 - every other error is what we are looking for
        raise Crash(target.name, data, e) from None


_INDEX = re.compile(r"\.\d+(?=\.|$)")


def contract_reason(e: BaseException) -> str:
    """A ContractError must name a field, carry the value and say why."""
    field, reason = getattr(e, "field", None), getattr(e, "reason", None)
    assert isinstance(field, str) and field, f"rejection without a field: {e!r}"
    assert isinstance(reason, str) and reason.strip(), f"rejection without a reason: {e!r}"
    assert hasattr(e, "value"), f"rejection without the value: {e!r}"
    assert str(e).startswith(field), f"message does not start with the field: {e}"
    return _INDEX.sub(".*", field)


# -- minimisation --------------------------------------------------------------


def _shrinks(data: Any) -> Iterator[Any]:
    """Smaller variants of `data`: chunks removed from bytes/str/lists, then each part shrunk."""
    if isinstance(data, bytes | str | list):
        n = len(data)
        size = n // 2
        while size >= 1:
            for i in range(0, n, size):
                yield data[:i] + data[i + size:]
            size //= 2
        if isinstance(data, list):
            for i, part in enumerate(data):
                for smaller in _shrinks(part):
                    yield data[:i] + [smaller] + data[i + 1:]
    elif isinstance(data, tuple):
        for i, part in enumerate(data):
            for smaller in _shrinks(part):
                yield data[:i] + (smaller,) + data[i + 1:]
    elif isinstance(data, int) and not isinstance(data, bool) and data not in (0, 1):
        yield data // 2


def minimize(target: Target, data: Any, budget: int = 2000) -> Any:
    """Greedy shrinking: keep any smaller input that crashes with the same exception type."""
    try:
        run_one(target, data)
        return data
    except Crash as c:
        kind = type(c.error)
    tries = 0
    improved = True
    while improved and tries < budget:
        improved = False
        for candidate in _shrinks(data):
            tries += 1
            if tries >= budget:
                break
            try:
                run_one(target, candidate)
            except Crash as c:
                if type(c.error) is kind:
                    data = candidate
                    improved = True
                    break
    return data


def u16s(rng: random.Random) -> int:
    """A register value, biased to the edges."""
    return rng.choice((0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF, rng.randrange(0x10000)))
