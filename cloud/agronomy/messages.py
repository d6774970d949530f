"""Texts for people as a message key and its values, so that a reader sees them in her language.

A rule that explains itself (an alert, a planner decision) says ``TEXT("alert.frost", tmin_c=-1.5)``:
a `Message` with the key, the values, and the English text rendered from the rule module's
template (``"minimum {tmin_c:.1f} °C expected"``). The English text is what the API's `message`
and `explanation` fields and the logs carry; the key and values travel beside it through storage
and the API, and the dashboard's catalogues (``cloud/dashboard/static/i18n/<locale>.json``) hold
the same key in every language it speaks.

Values are plain JSON in the record: numbers rounded where the rule rounds them, a datetime as
ISO 8601, and a value that is itself a Message (a detail, "an agronomist") as its own
``{"key", "params"}``, rendered inside the text; a list of Messages (several findings) is a list
of those, and its English is theirs joined by "; ".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from string import Formatter


@dataclass(frozen=True)
class Message:
    """One text for people: its catalogue key, its values, and its English text."""

    key: str
    params: Mapping[str, object]
    text: str

    def record(self) -> dict[str, object]:
        """``{"key", "params"}`` as JSON-ready data, nested messages included."""
        return {"key": self.key, "params": {k: _json(v) for k, v in self.params.items()}}


def _json(v: object) -> object:
    if isinstance(v, Message):
        return v.record()
    if isinstance(v, list | tuple):
        return [_json(x) for x in v]
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def placeholders(template: str) -> set[str]:
    """The value names a template uses (``"{a:.1f} of {b}"`` -> {"a", "b"})."""
    return {name for _, name, _, _ in Formatter().parse(template) if name}


class Texts:
    """A rule module's English templates by key; calling it makes a Message."""

    def __init__(self, templates: Mapping[str, str]) -> None:
        self.templates = dict(templates)

    def __call__(self, key: str, **params: object) -> Message:
        return Message(key, params, self.templates[key].format(**{k: _english(v) for k, v in params.items()}))


def _english(v: object) -> object:
    if isinstance(v, Message):
        return v.text
    if isinstance(v, list | tuple) and v and all(isinstance(x, Message) for x in v):
        return join(v)
    if isinstance(v, list | tuple) and all(isinstance(x, str) for x in v):
        return ", ".join(v)
    return v


def join(messages: Sequence[Message]) -> str:
    """The English text of several messages in a row (a decision and its adjustments)."""
    return "; ".join(m.text for m in messages)
