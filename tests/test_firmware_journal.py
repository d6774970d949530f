"""The irrigation command journal in flash (firmware/journal.py): atomic, checked, never trusted blindly."""

from pathlib import Path

from furrow.firmware.journal import Journal, empty


def test_saved_state_comes_back_after_a_reset(tmp_path: Path) -> None:
    """What was saved is what a new Journal on the same file loads."""
    state = {"runs": [[1, "c-1", 1000]], "waiting": ["c-2"], "acks": [{"id": "c-1", "state": "started"}]}
    Journal(str(tmp_path / "j")).save(state)
    assert Journal(str(tmp_path / "j")).load() == state


def test_a_power_cut_before_the_rename_leaves_the_new_journal_in_tmp(tmp_path: Path) -> None:
    """If the cut came after the .tmp was written but before the rename, the .tmp is used."""
    j = Journal(str(tmp_path / "j"))
    j.save({"runs": [], "waiting": [], "acks": []})
    (tmp_path / "j").write_text("furrow-journal 00")  # the old copy, torn
    Journal(str(tmp_path / "j.tmp.src")).save({"runs": [[2, "c-9", 5]], "waiting": [], "acks": []})
    (tmp_path / "j.tmp.src").rename(tmp_path / "j.tmp")
    assert Journal(str(tmp_path / "j")).load()["runs"] == [[2, "c-9", 5]]


def test_a_damaged_journal_is_ignored_and_flagged(tmp_path: Path) -> None:
    """A journal whose CRC fails loads as empty (valves close at boot anyway) and says it was damaged."""
    j = Journal(str(tmp_path / "j"))
    j.save({"runs": [[1, "c-1", 1000]], "waiting": [], "acks": []})
    text = (tmp_path / "j").read_text().replace("c-1", "c-7")  # one flipped character, CRC no longer matches
    (tmp_path / "j").write_text(text)
    fresh = Journal(str(tmp_path / "j"))
    assert fresh.load() == empty() and fresh.damaged
    assert Journal(str(tmp_path / "missing")).load() == empty()
