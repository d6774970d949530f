"""The Modbus report queue's registers (contract 1.1, an addition to modbus_map).

A node keeps every report no master has acknowledged in a flash ring. It
serves the newest report, as in 1.0, until a master writes holding register
2 (or an ack to 3-4); then it serves the OLDEST unacknowledged report in the
same layout (seq, time and values are that report's). Writing its seq to 3-4
in one request drops it and exposes the next. Input register 15 says what
waits. A master that stops writing 2-4 for QUEUE_HOLD_REPORTS reports gets
the newest report again. docs/contract.md, "Report queue", gives the rules.

Apart from modbus_map so that a node without a queue (and the contract's
other users on a board) does not carry it in heap.
"""

from .modbus_map import STATUS, STATUS_OK

QUEUE = 15  # input register, while STATUS is STATUS_OK (with 1 it counts config errors)
QUEUE_OLDEST = 0x8000  # bit: the image is the oldest waiting report, ack its seq
QUEUE_WAITING = 0x7FFF  # bits: how many reports wait (saturates)
HOLD_QUEUE_MODE = 2
HOLD_QUEUE_ACK = 3  # and 4: the seq, u32, high word first
HOLD_QUEUE_END = 5
QUEUE_NEWEST_FIRST = 0
QUEUE_OLDEST_FIRST = 1
QUEUE_HOLD_REPORTS = 4


def queue_state(regs):
    """(waiting, oldest) from an input image: how many reports wait for an
    ack, and whether the image is the oldest of them (then store it and ack
    its seq). A 1.0 node, or one in config fault, reads (0, False)."""
    if len(regs) <= QUEUE or regs[STATUS] != STATUS_OK:
        return 0, False
    return regs[QUEUE] & QUEUE_WAITING, bool(regs[QUEUE] & QUEUE_OLDEST)


def queue_ack_regs(seq):
    """The holding registers from HOLD_QUEUE_MODE acknowledging report `seq`
    (and keeping the node oldest first): write them in one function-16 request."""
    return [QUEUE_OLDEST_FIRST, (seq >> 16) & 0xFFFF, seq & 0xFFFF]
