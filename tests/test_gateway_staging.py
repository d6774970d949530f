"""The decoder -> committer hand-over (gateway/staging.py): one commit's worth at most, in order."""

from __future__ import annotations

import threading

from furrow.gateway.staging import Staging


def test_a_take_gets_every_group_put_since_the_last_in_order():
    """Three groups put while nobody took are one take, in the order put; then a close ends takes."""
    staging: Staging[str] = Staging(100)
    for name, n in (("a", 5), ("b", 1), ("c", 30)):
        staging.put(name, n)
    assert staging.waiting() == (3, 36)
    assert staging.take() == ["a", "b", "c"]
    staging.put("d", 2)
    staging.close()
    assert staging.take() == ["d"]
    assert staging.take() == []


def test_a_put_waits_while_a_commits_worth_waits_and_a_big_group_passes_alone():
    """With 90 of 100 waiting, a group of 20 waits until they are taken (the decoder never runs
    more than a commit's worth ahead); a group over the limit is still taken, on its own."""
    staging: Staging[str] = Staging(100)
    staging.put("a", 90)
    done = threading.Event()
    putter = threading.Thread(target=lambda: (staging.put("b", 20), done.set()))
    putter.start()
    assert not done.wait(0.3)
    assert staging.take() == ["a"]
    assert done.wait(5)
    putter.join()
    assert staging.take() == ["b"]
    staging.put("big", 500)  # nothing waiting: it goes in at once
    assert staging.waiting() == (1, 500)
    assert staging.take() == ["big"]
