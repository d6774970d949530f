"""Which input registers to read, merged into as few requests as pay off.

Pure functions: a role in, a list of (address, count) requests out. Two
ranges are read in one request when the registers between them cost less
on the wire than a second request would (its frame overhead, the two
inter-frame gaps and a turnaround).
"""

from __future__ import annotations

from furrow.edge.measurements import ROLE_SOIL
from furrow.edge.modbus_map import (
    DEPTH_BASE,
    DEPTH_SLOTS,
    FAULT_OFFSET,
    INPUT_COUNT,
    NOT_FITTED,
    ROLE_VALUES,
    STATUS,
)
from furrow.edge.modbus_queue import QUEUE

# Modbus allows 125 registers per FC04 request.
MAX_REGISTERS = 125
# Header registers every role uses: version, role, seq, time, battery,
# signal, firmware (0-9).
HEADER = 10
# A second request costs 8 request + 5 reply bytes, two 3.5-character gaps
# and a turnaround: about 22 characters, i.e. 11 registers of 2 bytes.
MERGE_GAP = 11

Request = tuple[int, int]
"""(start address, register count) of one FC04 read."""


def needed(role: str) -> list[int]:
    """Every input address a report of `role` is decoded from."""
    addrs = set(range(HEADER)) | {STATUS, QUEUE}  # status and the report queue (1.1)
    if role == ROLE_SOIL:
        addrs |= set(range(DEPTH_BASE, DEPTH_BASE + DEPTH_SLOTS))
    for addr, _name, kind, _scale, _slot in ROLE_VALUES[role]:
        addrs |= {addr, addr + FAULT_OFFSET}
        if kind in ("u32", "i32"):
            addrs.add(addr + 1)
    return sorted(addrs)


def merge(addrs: list[int], gap: int = MERGE_GAP, max_count: int = MAX_REGISTERS) -> list[Request]:
    """Group sorted addresses into requests, bridging holes of up to `gap` registers."""
    requests: list[Request] = []
    start = end = addrs[0]
    for a in addrs[1:]:
        if a - end - 1 <= gap and a - start + 1 <= max_count:
            end = a
        else:
            requests.append((start, end - start + 1))
            start = end = a
    requests.append((start, end - start + 1))
    return requests


def reads_for_role(role: str | None) -> list[Request]:
    """The requests for a device of `role`; the whole map when not known."""
    if role is None:
        return [(0, INPUT_COUNT)]
    return merge(needed(role))


def assemble(parts: list[tuple[int, list[int]]]) -> list[int]:
    """A full input image from the ranges read; registers not read count as
    not fitted (which decode_inputs skips)."""
    regs = [NOT_FITTED] * INPUT_COUNT
    for start, values in parts:
        regs[start : start + len(values)] = values
    return regs
