"""Alert changes to the group chats farms use: WeCom (企业微信) group robots and DingTalk (钉钉)
custom robots.

Both take a POST of JSON to the webhook address the robot's page gives (its key or access token
in the query) and answer HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``; any other errcode is a
failure even on 200 (WeCom 93000 invalid webhook, 45009 over the 20 messages a minute a robot may
send; DingTalk 310000 signature or keyword refused, 130101 sending too fast), raised as
`RobotRefused` so the outlet retries it like the webhook's 5xx. Errors name the service's host,
never the address: its query is the robot's credential.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import quote_plus, urlsplit

import httpx

from .delivery import Notice
from .texts import Rendered, Texts

WECOM_MARKDOWN_MAX_BYTES = 4096  # WeCom: markdown.content is at most 4096 bytes of UTF-8


class RobotRefused(RuntimeError):
    """The robot's service answered a non-zero errcode (or not 200, or not JSON)."""

    def __init__(self, service: str, errcode: object, errmsg: object) -> None:
        super().__init__(f"{service} answered errcode {errcode}: {errmsg}")
        self.errcode = errcode


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), URL-encoded
    for the query (UTF-8 throughout), sent with `timestamp` in milliseconds; the service refuses a
    timestamp more than an hour from its clock."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def markdown(r: Rendered, words: dict[str, str]) -> str:
    """The notice as the markdown both robots show: a bold title, the sentence, where and which alert."""
    return (f"**{r.title}**\n\n{r.text}\n\n> {words['where']}{words['sep']}{r.where}\n"
            f"> {words['alert']}{words['sep']}#{r.alert_id}")


def _clip_utf8(text: str, max_bytes: int) -> str:
    raw = text.encode()
    return text if len(raw) <= max_bytes else raw[:max_bytes - 3].decode(errors="ignore") + "…"


class _Robot:
    service = "robot"

    def __init__(self, url: str, texts: Texts, timeout_s: float = 10.0) -> None:
        self._url = url
        self._texts = texts
        self._host = urlsplit(url).netloc
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def _post(self, url: str, payload: dict[str, object]) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        r = await self._client.post(url, content=body, headers={"Content-Type": "application/json; charset=utf-8"})
        where = f"{self.service} ({self._host})"
        if r.status_code != 200:
            raise RobotRefused(where, f"HTTP {r.status_code}", r.text[:200])
        try:
            answer = r.json()
        except ValueError:
            raise RobotRefused(where, "not JSON", r.text[:200]) from None
        if not isinstance(answer, dict) or answer.get("errcode") != 0:
            raise RobotRefused(where, answer.get("errcode") if isinstance(answer, dict) else answer,
                               answer.get("errmsg") if isinstance(answer, dict) else "")

    async def close(self) -> None:
        await self._client.aclose()


class WeComSender(_Robot):
    """POSTs ``{"msgtype": "markdown", "markdown": {"content": ...}}`` to a WeCom group robot's
    webhook (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY)."""

    service = "WeCom robot"

    def payload(self, notice: Notice) -> dict[str, object]:
        content = markdown(self._texts.notice(notice), self._texts.words)
        return {"msgtype": "markdown", "markdown": {"content": _clip_utf8(content, WECOM_MARKDOWN_MAX_BYTES)}}

    async def __call__(self, notice: Notice) -> None:
        await self._post(self._url, self.payload(notice))


class DingTalkSender(_Robot):
    """POSTs ``{"msgtype": "markdown", "markdown": {"title", "text"}}`` to a DingTalk custom
    robot's webhook (https://oapi.dingtalk.com/robot/send?access_token=TOKEN), signed (加签) with
    `timestamp` and `sign` in the query when the robot has a secret (SEC...)."""

    service = "DingTalk robot"

    def __init__(self, url: str, secret: str | None, texts: Texts, timeout_s: float = 10.0,
                 clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        super().__init__(url, texts, timeout_s)
        self._secret = secret
        self._clock_ms = clock_ms

    def payload(self, notice: Notice) -> dict[str, object]:
        r = self._texts.notice(notice)
        return {"msgtype": "markdown", "markdown": {"title": r.title, "text": markdown(r, self._texts.words)}}

    def signed_url(self) -> str:
        if not self._secret:
            return self._url
        ts = self._clock_ms()  # each attempt signs afresh: a retry an hour later is still accepted
        return f"{self._url}&timestamp={ts}&sign={dingtalk_sign(self._secret, ts)}"

    async def __call__(self, notice: Notice) -> None:
        await self._post(self.signed_url(), self.payload(notice))
