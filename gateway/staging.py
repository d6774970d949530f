"""The hand-over between the MQTT source's decoder thread and its committer thread.

The decoder puts each group it decoded; the committer takes everything put since it last took,
as one commit (one transaction, one fsync). So a commit holds what was decoded while the previous
one waited for its disk, however small the decoder's groups were, and the decoder never runs
further ahead than one commit's worth of messages: `put` waits while that many wait to be taken.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Staging(Generic[T]):
    """Groups of messages waiting for one commit, at most `limit` messages (a group that alone
    passes it is taken on its own)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._groups: list[T] = []
        self._messages = 0
        self._closed = False
        self._changed = threading.Condition()

    def put(self, group: T, messages: int) -> None:
        """Add a group of `messages` messages, waiting while the ones waiting would pass the limit."""
        with self._changed:
            while self._groups and self._messages + messages > self._limit:
                self._changed.wait()
            self._groups.append(group)
            self._messages += messages
            self._changed.notify_all()

    def close(self) -> None:
        """No more groups: `take` answers what is left, then an empty list."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def take(self) -> list[T]:
        """Every group waiting, in the order put (waits for one); empty once closed and drained."""
        with self._changed:
            while not self._groups and not self._closed:
                self._changed.wait()
            groups, self._groups, self._messages = self._groups, [], 0
            self._changed.notify_all()
            return groups

    def waiting(self) -> tuple[int, int]:
        """(groups, messages) waiting to be taken."""
        with self._changed:
            return len(self._groups), self._messages
