"""Alert changes by SMS, through a provider: `SmsProvider.send(phone_numbers, text) -> SmsResult`.

One provider is built in, `HttpSmsProvider`: a POST of a JSON body made from a template to the
provider's (or a farm's own relay's) URL, 2xx meaning accepted. A provider whose API differs
(signed requests, an error code inside a 200) is one small class with the same `send`.

Each alert is one SMS segment, so a farm pays one message per alert and a phone never shows a
message cut mid-way: a segment is 140 bytes, which holds 160 characters of the GSM 03.38 7-bit
alphabet but only 70 in UCS-2, the encoding any Chinese character forces on the whole message
(3GPP TS 23.038; concatenated messages lose 6 bytes a segment to their header, 153/67). The text
is cut to fit with an ellipsis.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from .delivery import Notice
from .models import SeverityName
from .texts import Texts

GSM7_SEGMENT = 160
UCS2_SEGMENT = 70
# The GSM 03.38 default alphabet (basic table; the extension table's characters take two septets
# and are treated as outside it, which only makes the limit the safer 70).
GSM7 = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")


def segment_limit(text: str) -> int:
    """Characters one SMS holds for `text`: 160 in the GSM 7-bit alphabet, else 70 (UCS-2)."""
    return GSM7_SEGMENT if set(text) <= GSM7 else UCS2_SEGMENT


def fit_sms(text: str) -> str:
    """`text` cut to one segment, ending in an ellipsis when cut ("..." keeps GSM text in 7 bits)."""
    limit = segment_limit(text)
    if len(text) <= limit:
        return text
    more = "..." if limit == GSM7_SEGMENT else "…"
    return text[:limit - len(more)].rstrip() + more


@dataclass(frozen=True)
class SmsResult:
    """What the provider took: the numbers, and its id for the message when it gave one."""

    accepted: tuple[str, ...]
    provider_id: str | None = None


class SmsProvider(Protocol):
    async def send(self, phone_numbers: Sequence[str], text: str) -> SmsResult:
        """Send `text` to every number; raise when the provider refuses."""
        ...

    async def close(self) -> None: ...


def fill_template(template: object, phone_numbers: Sequence[str], text: str) -> object:
    """The request body: the template's JSON with a string that is exactly "{to}" replaced by the
    list of numbers, and "{to}" inside a longer string by them comma-joined, "{text}" by the text."""
    if isinstance(template, dict):
        return {k: fill_template(v, phone_numbers, text) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_template(v, phone_numbers, text) for v in template]
    if template == "{to}":
        return list(phone_numbers)
    if isinstance(template, str):
        return template.replace("{to}", ",".join(phone_numbers)).replace("{text}", text)
    return template


class HttpSmsProvider:
    """POSTs the filled template as JSON to `url` (with ``Authorization: Bearer <token>`` when a
    token is given); any answer but 2xx is a refusal. The answer's ``id`` (JSON) is kept."""

    def __init__(self, url: str, template: dict[str, object], token: str | None = None,
                 timeout_s: float = 10.0) -> None:
        self.url = url
        self._template = template
        self._headers = {"Content-Type": "application/json; charset=utf-8"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def send(self, phone_numbers: Sequence[str], text: str) -> SmsResult:
        body = json.dumps(fill_template(self._template, phone_numbers, text), ensure_ascii=False).encode()
        r = await self._client.post(self.url, content=body, headers=self._headers)
        if not 200 <= r.status_code < 300:
            raise RuntimeError(f"SMS provider {self.url} answered {r.status_code}: {r.text[:200]}")
        try:
            answer = r.json()
        except ValueError:
            answer = None
        pid = answer.get("id") if isinstance(answer, dict) else None
        return SmsResult(tuple(phone_numbers), None if pid is None else str(pid))

    async def close(self) -> None:
        await self._client.aclose()


def sms_text(notice: Notice, texts: Texts) -> str:
    """One segment: "[severity] kind where: sentence", cut to fit."""
    r = texts.notice(notice)
    return fit_sms(f"[{r.title}] {r.where}{texts.words['sep']}{r.text}")


class SmsSender:
    """Sends the raised and escalated alerts of at least `min_severity` to `phone_numbers`."""

    def __init__(self, provider: SmsProvider, phone_numbers: Sequence[str], texts: Texts,
                 min_severity: SeverityName = SeverityName.CRITICAL) -> None:
        self.provider = provider
        self.phone_numbers = tuple(phone_numbers)
        self._texts = texts
        self._min = min_severity.level

    def wants(self, notice: Notice) -> bool:
        """A resolution is not worth a paid message; neither is an alert below the threshold."""
        return notice.event in ("raised", "escalated") and notice.alert.severity.level >= self._min

    async def __call__(self, notice: Notice) -> None:
        await self.provider.send(self.phone_numbers, sms_text(notice, self._texts))

    async def close(self) -> None:
        await self.provider.close()
