"""Password login: the one API route that takes no token (it gives one).

Rate-limited per user name and per client address (cloud/auth/ratelimit.py):
after FURROW_LOGIN_MAX_FAILURES failures within FURROW_LOGIN_WINDOW_S the
answer is 429 with Retry-After, whatever the password.
"""

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...auth import Role
from ...auth.passwords import MAX_PASSWORD_LEN, check_user_password
from ...db import User
from ...errors import RateLimited, Unauthenticated
from ..deps import ServicesDep, client_address, get_auditor
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/auth", tags=["auth"], route_class=JsonRoute)


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, examples=["maria"])
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LEN)


class LoginOut(BaseModel):
    token: str = Field(description="a bearer token for this user: `Authorization: Bearer <token>`")
    role: Role
    expires_ms: int


@router.post("/login", response_model=LoginOut,
             responses={401: {"model": ProblemResponse}, 429: {"model": ProblemResponse,
                                                               "description": "too many failures; see Retry-After"}})
async def login(body: LoginIn, request: Request, services: ServicesDep) -> LoginOut:
    """Trade a user's name and password for a token (FURROW_LOGIN_TOKEN_TTL_HOURS long)."""
    limiter = services.login_limiter
    address = client_address(request)
    keys = [f"user:{body.name}", f"addr:{address}"]
    audit = get_auditor(request)
    started = services.clock() / 1000  # the limiter's window is in seconds of the service's clock
    wait = limiter.retry_after(keys, started)
    if wait is not None:
        raise RateLimited("name", body.name, f"too many failed logins; try again in {wait} s", wait)
    # Counted as a failure before the password is checked (and forgiven if right): parallel
    # attempts each see the ones still in progress, so they cannot all slip under the limit.
    limiter.failed(keys, started)

    def check(session: Session) -> tuple[bool, User | None]:
        user = session.scalar(select(User).where(User.name == body.name))
        ok = check_user_password(body.password, user.password_hash if user is not None else None)
        if user is None or not ok or user.disabled:
            return False, None
        return True, user

    ok, user = await services.db.run(check)
    role = user.role if user is not None else None
    if not ok or role is None:
        await audit(body.name, "auth.login_failed", f"user:{body.name}")
        raise Unauthenticated("password", None, "wrong name or password")
    limiter.forgive(keys, started)
    limiter.succeeded(keys[0])
    hours = services.settings.login_token_ttl_hours
    # the user's own organisation and region: a person of another organisation than the default one logs in too
    issued = await services.tokens.issue(body.name, Role(role), ttl_days=hours / 24,
                                         organisation=user.organisation_id, region=user.region)
    await audit(body.name, "auth.login", f"user:{body.name}", token_id=issued.id)
    return LoginOut(token=issued.token, role=issued.role, expires_ms=issued.expires_ms)
