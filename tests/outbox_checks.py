"""Checks of firmware/outbox.py written in the MicroPython subset, so the same
checks run on CPython (tests/test_firmware_outbox.py) and inside the
MicroPython runtime. Each takes a fresh file path and raises AssertionError."""

from furrow.firmware.outbox import HEAD_SIZE, Outbox


def drain(box):
    out = []
    while True:
        m = box.peek()
        if m is None:
            return out
        out.append(m)
        box.pop()


def check_fifo_and_reboot(path):
    box = Outbox(path, slots=8, slot_size=128, sync_every=3)
    for i in range(5):
        box.append("t/up", b"seq-%d" % i)
    assert len(box) == 5
    assert box.peek() == ("t/up", b"seq-0")
    box.pop()
    box.pop()  # two acknowledged, not yet synced (sync_every=3)
    box2 = Outbox(path, slots=8, slot_size=128, sync_every=3)  # a reset
    got = [m[1] for m in drain(box2)]
    # the unsynced pops come again (at-least-once), nothing is lost, order kept
    assert got == [b"seq-%d" % i for i in range(5)], got
    box3 = Outbox(path, slots=8, slot_size=128)
    assert len(box3) == 0 and box3.peek() is None  # drained empty: the pointer was written


def check_full_ring_drops_oldest(path):
    box = Outbox(path, slots=4, slot_size=64)
    for i in range(10):
        box.append("t", b"%d" % i)
    assert len(box) == 4 and box.stats["dropped"] == 6
    box2 = Outbox(path, slots=4, slot_size=64)  # and after a reset too
    assert [m[1] for m in drain(box2)] == [b"6", b"7", b"8", b"9"]


def check_wraps_many_times(path):
    box = Outbox(path, slots=3, slot_size=64, sync_every=1)
    sent = []
    for i in range(20):
        box.append("t", b"%d" % i)
        if i % 2:
            sent += [m[1] for m in drain(box)]
    assert sent == [b"%d" % i for i in range(20)], sent
    assert box.stats["slot_writes"] == 20


def check_damaged_slot_is_skipped(path):
    box = Outbox(path, slots=4, slot_size=64)
    for i in range(3):
        box.append("t", b"rec%d" % i)
    with open(path + ".dat", "r+b") as f:  # a power cut in the middle of slot 1's write
        f.seek(64 + HEAD_SIZE + 2)
        f.write(b"\xff\xff")
    box2 = Outbox(path, slots=4, slot_size=64)
    assert [m[1] for m in drain(box2)] == [b"rec0", b"rec2"]
    assert box2.stats["damaged"] == 1


def check_too_big_is_refused(path):
    box = Outbox(path, slots=2, slot_size=32)
    try:
        box.append("t", bytes(40))
    except ValueError:
        pass
    else:
        raise AssertionError("a message larger than a slot was accepted")
    assert len(box) == 0


def check_drop_during_a_publish_removes_nothing_else(path):
    box = Outbox(path, slots=2, slot_size=64)
    box.append("t", b"a")
    box.append("t", b"b")
    assert box.peek() == ("t", b"a")  # its publish is waiting for the PUBACK...
    box.append("t", b"c")  # ...while a new message drops it from the full ring
    box.pop()  # the PUBACK of "a" must not remove "b"
    assert [m[1] for m in drain(box)] == [b"b", b"c"]


def check_peek_into_reads_in_place(path):
    # The report queue's way: each record read into the one buffer, checked like peek()'s; a record
    # longer than the buffer is not read (its length says so), a damaged one is skipped.
    box = Outbox(path, slots=4, slot_size=64)
    buf = bytearray(8)
    assert box.peek_into(buf) is None  # empty
    box.append(b"", b"abc")
    box.append(b"", b"defghij")
    box.append(b"", bytes(20))  # longer than buf
    box.append(b"", b"klm")
    with open(path + ".dat", "r+b") as f:  # record 3 damaged
        f.seek(3 * 64 + HEAD_SIZE + 1)
        f.write(b"\x00\x00")
    assert box.peek_into(buf) == 4 and bytes(buf[:4]) == b"\x00abc"  # topic length 0, then the payload
    assert box.peek_into(buf) == 4  # again, the same record
    box.pop()
    assert box.peek_into(buf) == 8 and bytes(buf) == b"\x00defghij"
    box.pop()
    assert box.peek_into(buf) == 21 and bytes(buf) == b"\x00defghij"  # not read: buf keeps the last one
    box.pop()
    assert box.peek_into(buf) is None and box.stats["damaged"] == 1 and box.stats["sent"] == 3


CHECKS = [
    check_peek_into_reads_in_place,
    check_drop_during_a_publish_removes_nothing_else,
    check_fifo_and_reboot,
    check_full_ring_drops_oldest,
    check_wraps_many_times,
    check_damaged_slot_is_skipped,
    check_too_big_is_refused,
]
