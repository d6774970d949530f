"""Alerts delivered where farms talk: a WeCom group robot, a DingTalk custom robot (加签) and SMS
through the HTTP provider, each a real HTTP server on loopback answering as the documented API
does, driven by the real alert job raising an alert from ingested readings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest

from furrow.cloud.alerts.sms import GSM7_SEGMENT, UCS2_SEGMENT, fill_template, fit_sms, segment_limit
from furrow.cloud.settings import SettingsError, load_settings
from tests.cloud_support import WAIT, eventually, local_settings, running_app
from tests.servers import free_port
from tests.test_cloud_alerts import QUIET, alerts, evaluate, healthy_farm

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN = "f00dfeed0123456789"
DING_SECRET = "SECdeadbeef0123456789abcdef"
PHONES = ["+8613800138000", "+8613900139000"]
FAST = {"alert_delivery_backoff_s": 0.01, **QUIET}

# The soil-dry alert healthy_farm(vwc=20) raises (depletion 33 mm, RAW 25.5, TAW 51), as each
# channel words it from the dashboard's catalogues.
ZH_TEXT = "根区水分亏缺 33 mm，已超过易利用水量 RAW 26 mm（总有效水量 TAW 51 mm）：作物正受水分胁迫"
ZH_TITLE = "告警 · 警告 · 土壤干旱"


class Robots:
    """One loopback server answering as WeCom's /cgi-bin/webhook/send?key= and DingTalk's
    /robot/send?access_token=: HTTP 200 with {"errcode", "errmsg"}. A wrong key is 93000, a wrong
    token 300001, a missing, stale (over an hour) or wrong DingTalk signature 310000; `script`
    gives errcodes to answer in turn per service (45009 and 130101 are the rate limits)."""

    def __init__(self, script: dict[str, list[int]] | None = None) -> None:
        self.got: dict[str, list[dict]] = {"wecom": [], "dingtalk": [], "sms": []}
        self.signatures: list[bool] = []
        script = {k: list(v) for k, v in (script or {}).items()}
        robots = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                url = urlsplit(self.path)
                q = parse_qs(url.query)
                body = json.loads(raw.decode("utf-8"))
                if url.path == "/sms":
                    robots.got["sms"].append({"auth": self.headers.get("Authorization"), "body": body})
                    return self._answer({"id": f"m{len(robots.got['sms'])}"})
                if url.path == "/cgi-bin/webhook/send":
                    robots.got["wecom"].append(body)
                    if q.get("key") != [WECOM_KEY]:
                        return self._answer({"errcode": 93000, "errmsg": "invalid webhook url"})
                    ok = body.get("msgtype") == "markdown" and len(body["markdown"]["content"].encode()) <= 4096
                    code = script.get("wecom", []).pop(0) if script.get("wecom") else (0 if ok else 40008)
                    return self._answer({"errcode": code, "errmsg": "ok" if code == 0 else "refused"})
                if url.path == "/robot/send":
                    robots.got["dingtalk"].append(body)
                    if q.get("access_token") != [DING_TOKEN]:
                        return self._answer({"errcode": 300001, "errmsg": "token is not exist"})
                    signed = robots.check_sign(self.path)
                    robots.signatures.append(signed)
                    if not signed:
                        return self._answer({"errcode": 310000, "errmsg": "sign not match"})
                    code = script.get("dingtalk", []).pop(0) if script.get("dingtalk") else 0
                    return self._answer({"errcode": code, "errmsg": "ok" if code == 0 else "send too fast"})
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _answer(self, answer: dict) -> None:
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        base = f"http://127.0.0.1:{self.server.server_port}"
        self.wecom_url = f"{base}/cgi-bin/webhook/send?key={WECOM_KEY}"
        self.dingtalk_url = f"{base}/robot/send?access_token={DING_TOKEN}"
        self.sms_url = f"{base}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def check_sign(path: str) -> bool:
        """DingTalk's check, written from its documentation apart from the sender's code: the raw
        query's sign, URL-decoded, is base64 of HMAC-SHA256(secret, timestamp + "\\n" + secret)."""
        pairs = dict(p.split("=", 1) for p in urlsplit(path).query.split("&"))
        if "timestamp" not in pairs or "sign" not in pairs:
            return False
        ts = pairs["timestamp"]
        if abs(int(ts) - time.time() * 1000) > 3_600_000:
            return False
        want = base64.b64encode(hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
        return hmac.compare_digest(unquote_plus(pairs["sign"]), want)

    def __enter__(self) -> Robots:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


async def test_an_alert_reaches_wecom_dingtalk_and_sms_in_chinese_and_a_rate_limit_errcode_is_retried(tmp_path):
    """The alert job raises soil-dry from ingested probe readings; WeCom's first answer is errcode
    45009 on HTTP 200 (its rate limit), which counts as a failed attempt and is retried; DingTalk's
    request is signed as documented; SMS gets one 70-character segment. Each payload is exact."""
    with Robots({"wecom": [45009]}) as robots:
        settings = local_settings(tmp_path, alert_wecom_webhook_url=robots.wecom_url,
                                  alert_dingtalk_webhook_url=robots.dingtalk_url, alert_dingtalk_secret=DING_SECRET,
                                  alert_sms_url=robots.sms_url, alert_sms_to=",".join(PHONES),
                                  alert_sms_token="sms-token-1", alert_sms_min_severity="warning", **FAST)
        async with running_app(settings) as c:
            outlets = c.app.state.services.alerts.deliveries.outlets
            await healthy_farm(c, vwc=20.0)
            assert (await evaluate(c))["raised"] == 1
            (a,) = await alerts(c)

            async def delivered() -> bool:
                return all(outlets[n].stats["delivered"] == 1 for n in ("wecom", "dingtalk", "sms"))

            await eventually(delivered, "each channel delivered the alert")
            assert dict(outlets["wecom"].stats) == {"delivered": 1, "retries": 1}
            assert dict(outlets["dingtalk"].stats) == {"delivered": 1}
            assert dict(outlets["sms"].stats) == {"delivered": 1}

    content = f"**{ZH_TITLE}**\n\n{ZH_TEXT}\n\n> 位置：s1 / z1\n> 告警编号：#{a['id']}"
    wecom = {"msgtype": "markdown", "markdown": {"content": content}}
    assert robots.got["wecom"] == [wecom, wecom]  # the refused attempt, then the retry: the same message
    assert robots.got["dingtalk"] == [{"msgtype": "markdown", "markdown": {"title": ZH_TITLE, "text": content}}]
    assert robots.signatures == [True]
    (sms,) = robots.got["sms"]
    text = f"[{ZH_TITLE}] s1 / z1：{ZH_TEXT}"[:UCS2_SEGMENT - 1] + "…"
    assert sms == {"auth": "Bearer sms-token-1", "body": {"to": PHONES, "text": text}}
    assert len(sms["body"]["text"]) == 70


async def test_a_robot_refusing_every_time_is_counted_failed_and_nothing_stops(tmp_path):
    """A DingTalk robot whose secret is wrong answers errcode 310000 on HTTP 200 every time: tried
    ALERT_DELIVERY_ATTEMPTS times, then counted failed, while WeCom (in English here) delivers, SMS
    skips a warning below its critical threshold, and the alert is stored all the same."""
    with Robots() as robots:
        settings = local_settings(tmp_path, alert_wecom_webhook_url=robots.wecom_url, alert_locale="en",
                                  alert_dingtalk_webhook_url=robots.dingtalk_url, alert_dingtalk_secret="SECwrong",
                                  alert_sms_url=robots.sms_url, alert_sms_to=PHONES, alert_delivery_attempts=3,
                                  **FAST)
        async with running_app(settings) as c:
            outlets = c.app.state.services.alerts.deliveries.outlets
            await healthy_farm(c, vwc=20.0)
            assert (await evaluate(c))["raised"] == 1

            async def settled() -> bool:
                return outlets["dingtalk"].stats["failed"] == 1 and outlets["wecom"].stats["delivered"] == 1

            await eventually(settled, "DingTalk gave up and WeCom delivered")
            assert dict(outlets["dingtalk"].stats) == {"failed": 1, "retries": 2}
            assert dict(outlets["sms"].stats) == {"skipped": 1}
            (a,) = await alerts(c)
    assert robots.signatures == [False, False, False] and robots.got["sms"] == []
    en_text = "depletion 33 mm is past RAW 26 mm (TAW 51 mm): the crop is under water stress"
    assert robots.got["wecom"] == [{"msgtype": "markdown", "markdown": {
        "content": f"**Alert · warning · soil dry**\n\n{en_text}\n\n> Where: s1 / z1\n> Alert: #{a['id']}"}}]


def test_bad_channel_settings_are_refused_naming_the_variable():
    """Each bad value is named by its FURROW_ variable; a robot address, its credential in the
    query, is named without being repeated."""
    cases = {
        "alert_sms_to": ("+86 138 0013 8000", "FURROW_ALERT_SMS_TO='+86 138 0013 8000'"),
        "alert_locale": ("fr", "FURROW_ALERT_LOCALE='fr'"),
        "alert_sms_template": ('{"to": "{to}"}', "FURROW_ALERT_SMS_TEMPLATE="),
        "alert_wecom_webhook_url": ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?kee=abc123",
                                    "FURROW_ALERT_WECOM_WEBHOOK_URL: Value error, has no key="),
        "alert_dingtalk_webhook_url": ("https://oapi.dingtalk.com/robot/send",
                                       "FURROW_ALERT_DINGTALK_WEBHOOK_URL: Value error, has no access_token="),
        "alert_dingtalk_secret": ("0123456789abcdef", "FURROW_ALERT_DINGTALK_SECRET: Value error, is not a DingTalk"),
    }
    for field, (value, named) in cases.items():
        with pytest.raises(SettingsError) as e:
            load_settings(demo_mode=True, **{field: value})
        assert named in str(e.value), (field, str(e.value))
        if "webhook_url" in field or "secret" in field:
            assert value not in str(e.value)
    with pytest.raises(SettingsError, match="FURROW_ALERT_SMS_URL is set but FURROW_ALERT_SMS_TO is empty"):
        load_settings(demo_mode=True, alert_sms_url="https://sms.example/send")


def test_sms_numbers_from_the_environment_are_comma_separated(monkeypatch):
    """FURROW_ALERT_SMS_TO is a plain comma-separated list, not JSON."""
    monkeypatch.setenv("FURROW_ALERT_SMS_TO", " +8613800138000, 13900139000 ")
    assert load_settings(demo_mode=True).alert_sms_to == ["+8613800138000", "13900139000"]


def test_one_sms_segment_holds_160_gsm_characters_or_70_chinese():
    """3GPP TS 23.038: 140 bytes hold 160 septets of the GSM 7-bit alphabet or 70 UCS-2 characters;
    one Chinese character makes the whole message UCS-2."""
    assert (segment_limit("Frost: min -2.5 C"), segment_limit("霜冻"), segment_limit("min -2 °C")) == (160, 70, 70)
    english = "x" * 200
    assert fit_sms(english) == "x" * 157 + "..." and len(fit_sms(english)) == GSM7_SEGMENT
    chinese = "土壤干旱" * 30
    assert fit_sms(chinese) == chinese[:69] + "…" and len(fit_sms(chinese)) == UCS2_SEGMENT
    assert fit_sms("短信") == "短信"
    assert fill_template({"to": "{to}", "p": "to={to}", "m": {"t": "【农场】{text}"}, "n": 1}, ["1", "2"], "hi") == {
        "to": ["1", "2"], "p": "to=1,2", "m": {"t": "【农场】hi"}, "n": 1}
