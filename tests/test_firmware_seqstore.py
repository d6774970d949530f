"""SeqStore: seq numbers that never repeat across reboots, with little flash wear."""

from pathlib import Path

import pytest

from furrow.firmware.seqstore import SEQ_MAX, SeqStore, SeqStoreError


def _boot(path: Path, reserve: int = 100) -> SeqStore:
    """A fresh SeqStore on the same files: what a reboot does."""
    return SeqStore(str(path), reserve=reserve)


def test_new_store_counts_from_zero(tmp_path: Path) -> None:
    """A node with no seq file at all starts at 0 and counts up by one."""
    store = _boot(tmp_path / "seq")
    assert [store.next() for _ in range(5)] == [0, 1, 2, 3, 4]


def test_monotonic_across_reboots_and_never_repeats(tmp_path: Path) -> None:
    """Over many reboots at random points every seq is larger than all before it."""
    path = tmp_path / "seq"
    seen: list[int] = []
    for used in [0, 1, 7, 10, 11, 3, 25, 0, 9]:
        store = _boot(path, reserve=10)
        seen += [store.next() for _ in range(used)]
    assert seen == sorted(set(seen))
    assert len(seen) == sum([0, 1, 7, 10, 11, 3, 25, 0, 9])


def test_reboot_skips_the_rest_of_the_reserved_block(tmp_path: Path) -> None:
    """After a reboot counting resumes at the persisted mark, not where it stopped."""
    path = tmp_path / "seq"
    store = _boot(path, reserve=100)
    assert [store.next() for _ in range(3)] == [0, 1, 2]
    assert _boot(path, reserve=100).next() == 100


def test_one_flash_write_per_reserved_block(tmp_path: Path) -> None:
    """1000 seqs with reserve=100 cost 10 reservations, not 1000 writes."""
    store = _boot(tmp_path / "seq", reserve=100)
    for _ in range(1000):
        store.next()
    assert store.writes == 10


def test_mark_is_persisted_before_the_seq_is_handed_out(tmp_path: Path) -> None:
    """The file already covers a seq when next() returns it (power cut right after is safe)."""
    path = tmp_path / "seq"
    store = _boot(path, reserve=5)
    for _ in range(12):
        seq = store.next()
        assert _boot(path, reserve=5).peek() > seq


def test_survives_a_corrupted_primary_copy(tmp_path: Path) -> None:
    """A damaged primary file falls back to the backup copy: no reset to 0, no repeat."""
    path = tmp_path / "seq"
    store = _boot(path, reserve=10)
    last = [store.next() for _ in range(15)][-1]
    path.write_bytes(b"furrow-seq 99\x00\xff garbage")
    again = _boot(path, reserve=10)
    assert again.next() > last


def test_survives_a_flipped_digit_in_the_primary(tmp_path: Path) -> None:
    """A bit flip that still parses as a number is caught by the CRC, not trusted."""
    path = tmp_path / "seq"
    store = _boot(path, reserve=10)
    last = [store.next() for _ in range(15)][-1]
    text = path.read_text()
    path.write_text(text.replace("20", "90", 1))  # mark 20 -> 90 with the old CRC
    again = _boot(path, reserve=10)
    assert again.peek() == 20
    assert again.next() > last


def test_survives_a_missing_primary(tmp_path: Path) -> None:
    """A power cut between FAT's unlink and rename leaves only the backup: it is used."""
    path = tmp_path / "seq"
    store = _boot(path, reserve=10)
    last = [store.next() for _ in range(4)][-1]
    path.unlink()
    assert _boot(path, reserve=10).next() > last


def test_every_copy_damaged_refuses_to_restart_from_zero(tmp_path: Path) -> None:
    """When files exist but none is readable, SeqStore raises instead of reusing seqs."""
    path = tmp_path / "seq"
    _boot(path).next()
    path.write_bytes(b"\xff\xff")
    Path(str(path) + ".bak").write_bytes(b"")
    with pytest.raises(SeqStoreError) as err:
        _boot(path)
    assert err.value.path == str(path)


def test_restore_repairs_a_damaged_store(tmp_path: Path) -> None:
    """SeqStore.restore writes a mark a technician chose; counting resumes there."""
    path = tmp_path / "seq"
    path.write_bytes(b"junk")
    SeqStore.restore(str(path), 5000)
    assert _boot(path).next() == 5000


def test_leftover_temp_file_is_ignored(tmp_path: Path) -> None:
    """A half-written .tmp from a power cut does not count as a stored mark."""
    path = tmp_path / "seq"
    Path(str(path) + ".tmp").write_bytes(b"furrow-se")
    assert _boot(path).next() == 0


def test_seq_space_is_bounded_by_the_contract(tmp_path: Path) -> None:
    """The last u32 seq is handed out once; then SeqStore refuses instead of wrapping."""
    path = tmp_path / "seq"
    SeqStore.restore(str(path), SEQ_MAX)
    store = _boot(path)
    assert store.next() == SEQ_MAX
    with pytest.raises(SeqStoreError):
        store.next()


def test_reserve_must_be_positive(tmp_path: Path) -> None:
    """reserve=0 would write on every report; it is refused at construction."""
    with pytest.raises(ValueError):
        SeqStore(str(tmp_path / "seq"), reserve=0)
