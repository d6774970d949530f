"""The API's hardening: password login with its rate limit, the audit log (on SQLite and a real
PostgreSQL), and secrets only from the environment or files."""

from __future__ import annotations

import asyncio
import getpass
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from furrow.cloud import Settings
from furrow.cloud.auth import Role
from furrow.cloud.auth.passwords import set_password_sync
from furrow.cloud.auth.ratelimit import LoginLimiter
from tests.cloud_support import ADMIN, SECRET_KEY, batch_of, item, local_settings, problem, running_app, soil_uplink
from tests.security_support import register_node, register_site

NOW = 1_767_225_600_000  # when the test users are created (their creation time matters to nothing here)

PASSWORD = "correct horse battery staple"


def _user_create(tmp_path, name: str, role: str, password: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FURROW_DATA_DIR": str(tmp_path), "FURROW_SECRET_KEY": SECRET_KEY}
    return subprocess.run([sys.executable, "-m", "furrow.cli", "cloud", "user", "create", name, "--role", role,
                           *extra], input=password + "\n", env=env, capture_output=True, text=True, timeout=60)


async def test_password_login_gives_a_token_of_the_users_role(tmp_path):
    """`furrow cloud user create` reads the password from stdin; login answers {token, role, expires_ms}
    and the token works; a wrong password or unknown user is 401 with the same message; the user's
    creation, the failed and the good login are audited; a short password is refused."""
    done = _user_create(tmp_path, "maria", "agronomist", PASSWORD)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stderr + done.stdout
    async with running_app(local_settings(tmp_path), headers=None) as client:
        wrong = await client.post("/api/v1/auth/login", json={"name": "maria", "password": "nope-nope-nope"})
        ghost = await client.post("/api/v1/auth/login", json={"name": "ghost", "password": PASSWORD})
        assert wrong.status_code == ghost.status_code == 401
        assert wrong.json() == ghost.json()
        r = await client.post("/api/v1/auth/login", json={"name": "maria", "password": PASSWORD})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"token", "role", "expires_ms"} and body["role"] == "agronomist"
        me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
        assert me.json()["name"] == "maria"
        entries = (await client.get("/api/v1/audit", headers=ADMIN)).json()
        with pytest.raises(ValueError, match="at least 12 characters"):
            await client.app.state.services.db.run(
                lambda s: set_password_sync(s, "tom", Role.TECHNICIAN, "short", now_ms=NOW))
    assert [(e["action"], e["actor"], e["client"]) for e in reversed(entries)] == [
        ("user.create", f"cli:{getpass.getuser()}", "local"), ("auth.login_failed", "maria", "127.0.0.1"),
        ("auth.login_failed", "ghost", "127.0.0.1"), ("auth.login", "maria", "127.0.0.1")]


async def test_login_is_rate_limited_per_user_and_per_address(tmp_path):
    """After 5 failures for one name the 6th attempt is 429 with Retry-After, even with the right
    password; 5 failures from one address (any names) lock that address out too."""
    async with running_app(local_settings(tmp_path), headers=None) as client:
        await client.app.state.services.db.run(
            lambda s: set_password_sync(s, "maria", Role.AGRONOMIST, PASSWORD, now_ms=NOW))
        for _ in range(5):
            r = await client.post("/api/v1/auth/login", json={"name": "maria", "password": "guess-guess-guess"})
            assert r.status_code == 401
        r = await client.post("/api/v1/auth/login", json={"name": "maria", "password": PASSWORD})
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
        # the same address is locked for every name now: 5 failures came from it
        r = await client.post("/api/v1/auth/login", json={"name": "someone-else", "password": PASSWORD})
        assert r.status_code == 429
    # a fresh app (a fresh limiter), other addresses' failures do not count against maria's address
    async with running_app(local_settings(tmp_path), headers=None) as client:
        limiter = client.app.state.services.login_limiter
        for i in range(5):
            limiter.failed([f"addr:10.0.0.{i}"], 0.0)
        r = await client.post("/api/v1/auth/login", json={"name": "maria", "password": PASSWORD})
        assert r.status_code == 200


async def test_parallel_wrong_logins_cannot_pass_the_limit(tmp_path):
    """30 wrong passwords sent at once: only 5 are checked (401), the other 25 are 429, since an attempt
    counts as a failure while it is being checked; a right password (not in parallel) is not counted."""
    async with running_app(local_settings(tmp_path), headers=None) as client:
        await client.app.state.services.db.run(
            lambda s: set_password_sync(s, "maria", Role.AGRONOMIST, PASSWORD, now_ms=NOW))
        ok = await client.post("/api/v1/auth/login", json={"name": "maria", "password": PASSWORD})
        assert ok.status_code == 200 and client.app.state.services.login_limiter._failures == {}
        answers = await asyncio.gather(*[client.post("/api/v1/auth/login",
                                                     json={"name": "maria", "password": f"guess-number-{i}"})
                                         for i in range(30)])
        codes = sorted(r.status_code for r in answers)
        assert codes == [401] * 5 + [429] * 25


def test_the_limiter_forgets_failures_past_its_window():
    """Five failures lock a key for the rest of the window; once the oldest leaves it, one more try is allowed;
    a success clears the key; the table stays within max_keys."""
    lim = LoginLimiter(max_failures=5, window_s=60, max_keys=3)
    for t in range(5):
        lim.failed(["user:a"], float(t))
    assert lim.retry_after(["user:a"], 10.0) == 50
    assert lim.retry_after(["user:b", "user:a"], 30.0) == 30
    assert lim.retry_after(["user:a"], 60.5) is None  # the failure at t=0 left the window
    lim.failed(["user:a"], 60.5)  # five again (t = 1, 2, 3, 4, 60.5): locked until t=1 leaves, at 61
    assert lim.retry_after(["user:a"], 60.5) == 1
    lim.forgive(["user:a"], 60.5)  # that attempt turned out right: four again
    assert lim.retry_after(["user:a"], 60.5) is None
    lim.failed(["user:a"], 60.5)
    lim.succeeded("user:a")
    assert lim.retry_after(["user:a"], 60.5) is None
    for k in "wxyz":
        lim.failed([f"user:{k}"], 0.0)
    assert len(lim._failures) == 3


async def _audited_changes(client) -> None:
    await register_site(client, "s1", "z1")
    await register_node(client, "soil-01", "z1")
    assert (await client.put("/api/v1/registry/sites/s1", json={"id": "s1", "name": "renamed"})).status_code == 200
    points = [{"raw": 30000, "vwc_pct": 5.0}, {"raw": 15000, "vwc_pct": 40.0}]
    for store in (False, True):  # a fit only shown changes nothing and is not audited
        r = await client.post("/api/v1/nodes/soil-01/calibration",
                              json={"method": "two-point", "points": points, "store": store})
        assert r.status_code == 200, r.text
    assert (await client.post("/api/v1/nodes/soil-01/credentials")).status_code == 201
    assert (await client.delete("/api/v1/nodes/soil-01/credentials")).status_code == 204
    issued = (await client.post("/api/v1/auth/tokens", json={"user": "maria", "role": "agronomist"})).json()
    assert (await client.delete(f"/api/v1/auth/tokens/{issued['id']}")).status_code == 204
    r = await client.post("/api/v1/zones/z1/override", json={"action": "skip", "reason": "harvest"})
    assert r.status_code == 201, r.text
    assert (await client.post("/api/v1/ingest/batch", json=batch_of([item(soil_uplink())]))).status_code == 200
    r = await client.post("/api/v1/commands", json={"node": "soil-01", "valve": 1, "duration_s": 60,
                                                    "reason": "test"})
    assert r.status_code == 201, r.text
    command = r.json()["id"]
    assert (await client.post(f"/api/v1/commands/{command}/cancel", json={"reason": "oops"})).status_code == 200
    r = await client.get("/api/v1/audit", params={"limit": 100})
    assert r.status_code == 200
    entries = r.json()
    actions = [(e["action"], e["target"]) for e in reversed(entries)]
    assert actions == [
        ("registry.create_site", "site:s1"), ("registry.create_field", "field:s1-f"),
        ("registry.create_zone", "zone:z1"), ("registry.create_node", "node:soil-01"),
        ("registry.replace_site", "site:s1"), ("registry.calibrate_node", "node:soil-01"),
        ("credentials.issue", "node:soil-01"), ("credentials.revoke", "node:soil-01"),
        ("token.issue", "user:maria"), ("token.revoke", f"token:{issued['id']}"),
        ("override.create", "zone:z1"),
        ("command.create", f"command:{command}"), ("command.cancel", f"command:{command}"),
    ]
    assert {(e["actor"], e["client"]) for e in entries} == {("bootstrap-admin", "127.0.0.1")}
    assert [e["ts_ms"] for e in entries] == sorted((e["ts_ms"] for e in entries), reverse=True)
    assert entries[-1]["detail"]["body"]["name"] == "s1"
    assert "password" not in str(entries)
    newest = await client.get("/api/v1/audit", params={"limit": 2})
    assert [e["action"] for e in newest.json()] == ["command.cancel", "command.create"]
    since = await client.get("/api/v1/audit", params={"since_ms": entries[1]["ts_ms"]})
    assert {e["id"] for e in since.json()} >= {entries[0]["id"], entries[1]["id"]}
    assert (await client.get("/api/v1/audit", params={"limit": 0})).status_code == 422


async def test_every_change_is_in_the_audit_log(tmp_path):
    """Registry (calibration too), credential, token, override and command changes each leave who, what, when."""
    async with running_app(local_settings(tmp_path)) as client:
        await _audited_changes(client)


@pytest.mark.postgres
async def test_the_audit_log_on_postgresql(tmp_path, pg_database):
    """The same audit trail on a real PostgreSQL."""
    async with running_app(local_settings(tmp_path, database_url=pg_database)) as client:
        await _audited_changes(client)


def test_secrets_come_from_files_and_weak_ones_stop_the_service(tmp_path):
    """FURROW_SECRET_KEY_FILE is read (one trailing newline dropped); an unreadable file, a short
    bootstrap admin token, or no secret at all stop `furrow cloud run` with a message."""
    key = tmp_path / "secret_key"
    key.write_text(SECRET_KEY + "\n")
    assert Settings(data_dir=tmp_path, secret_key_file=key).token_key() == SECRET_KEY.encode()
    with pytest.raises(ValidationError, match="FURROW_SECRET_KEY_FILE"):
        Settings(data_dir=tmp_path, secret_key_file=tmp_path / "missing")
    with pytest.raises(ValidationError, match="FURROW_BOOTSTRAP_ADMIN_TOKEN"):
        Settings(data_dir=tmp_path, secret_key=SECRET_KEY, bootstrap_admin_token="fw_admin")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FURROW_")}
    env["FURROW_DATA_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "furrow.cli", "cloud", "run", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "FURROW_SECRET_KEY is not set" in done.stderr


async def test_integers_past_64_bits_are_refused_not_crashing(tmp_path):
    """An alert id or an audit since_ms past 2**63-1 is a 422 naming the parameter, not an OverflowError (500)."""
    async with running_app(local_settings(tmp_path)) as client:
        ack = await client.post(f"/api/v1/alerts/{2**70}/ack")
        since = await client.get(f"/api/v1/audit?since_ms={2**70}")
        assert (ack.status_code, since.status_code) == (422, 422)
        assert problem(ack)["field"] == "alert_id"
        assert problem(since)["field"] == "since_ms"
        assert (await client.post(f"/api/v1/alerts/{2**63 - 1}/ack")).status_code == 404
