"""An alert change as a person reads it, in the farm's language, for the chat and SMS channels.

The text comes from the dashboard's catalogues (``cloud/dashboard/static/i18n/<locale>.json``):
the alert's `message_key` filled from its `message_params` the way the dashboard's i18n.js fills
them (numbers to at most two decimals, a nested message in its own words, a list joined by the
language's clause mark), so a WeCom group reads the same sentence as the dashboard. An alert with
no key (stored before keys) keeps its English `message`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Literal

from ..dashboard import CATALOGUES
from .delivery import Notice

Locale = Literal["zh-CN", "en"]
FALLBACK: Locale = "en"
_PLACE = re.compile(r"\{(\w+)\}")
_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")

# The few words of a notice that the dashboard has no key for: what happened, and the labels.
WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {"raised": "告警", "escalated": "告警升级", "resolved": "告警解除", "where": "位置",
              "alert": "告警编号", "sep": "：", "dot": " · "},
    "en": {"raised": "Alert", "escalated": "Alert escalated", "resolved": "Resolved", "where": "Where",
           "alert": "Alert", "sep": ": ", "dot": " · "},
}


@cache
def catalogue(locale: str) -> dict[str, str]:
    return json.loads((CATALOGUES / f"{locale}.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Rendered:
    """One notice in words: `title` (event, severity, kind), `text` (the alert's sentence) and
    `where` (site / zone, or the subject)."""

    title: str
    text: str
    where: str
    alert_id: int


class Texts:
    """Renders notices in one locale."""

    def __init__(self, locale: Locale) -> None:
        self.locale = locale
        self._texts = catalogue(locale)
        self._fallback = catalogue(FALLBACK)
        self.words = WORDS[locale]

    def t(self, key: str, params: dict[str, object] | None = None) -> str:
        text = self._texts.get(key, self._fallback.get(key, key))
        return self._fill(text, params) if params else text

    def _fill(self, text: str, params: dict[str, object]) -> str:
        return _PLACE.sub(lambda m: self._value(m[1], params[m[1]]) if m[1] in params else m[0], text)

    def _value(self, name: str, v: object) -> str:
        if v is None:
            return "—"
        if isinstance(v, list):
            nested = any(isinstance(x, dict) for x in v)
            return self.t("punct.clause" if nested else "punct.list").join(self._value(name, x) for x in v)
        if isinstance(v, dict) and "key" in v:
            return self.t(str(v["key"]), v.get("params") or {})  # type: ignore[arg-type]
        if isinstance(v, bool):
            return str(v)
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, float):
            return f"{v:,.2f}".rstrip("0").rstrip(".")
        if isinstance(v, str) and _ISO_TIME.match(v):
            return datetime.fromisoformat(v).strftime("%Y-%m-%d %H:%M %Z").strip()
        key = f"{name}.{v}"
        return self._texts.get(key, str(v))

    def notice(self, notice: Notice) -> Rendered:
        a = notice.alert
        text = self.t(a.message_key, a.message_params or {}) if a.message_key and (
            a.message_key in self._texts or a.message_key in self._fallback) else a.message
        w = self.words
        title = w["dot"].join([w.get(notice.event, notice.event), self.t(f"severity.{a.severity}"),
                               self.t(f"alert-kind.{a.kind}")])
        places = [p for p in (a.site, a.zone) if p]
        where = " / ".join(places) if places else a.subject
        if places and a.subject not in places:
            where += f" ({a.subject})"
        return Rendered(title, text, where, a.id)
