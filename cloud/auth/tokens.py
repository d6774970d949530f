"""Users and bearer tokens in the relational database.

A token is ``fw_<id>_<secret>``; only HMAC-SHA256(secret_key, token) is
stored, so a database dump gives no usable token. The full token is returned
once, when it is issued. Tokens expire and can be revoked; a disabled user's
tokens stop working at once.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .._time import Clock, now_ms
from ..db import DEFAULT_ORGANISATION, ApiToken, Database, Organisation, User
from ..errors import Unauthenticated
from .roles import Role

DAY_MS = 24 * 3600 * 1000
REGION = re.compile(r"[0-9A-Za-z-]{1,12}(/[0-9A-Za-z-]{1,12}){0,3}")  # as tenancy.organisations.Region
PREFIX = "fw_"


class AuthError(Unauthenticated):
    """No valid token: missing, unknown, expired or revoked (HTTP 401). The token itself is
    never repeated in the error."""

    def __init__(self, reason: str) -> None:
        super().__init__("Authorization", None, reason)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user behind the token, and its role."""

    user_id: int
    name: str
    role: Role
    token_id: str
    locale: str | None = None
    """The dashboard language the person chose; None: the browser's."""
    organisation: str = DEFAULT_ORGANISATION
    """The organisation whose data this caller sees (cloud/tenancy/)."""
    region: str | None = None
    """A regional user's region: the aggregates it may read (cloud/regional/)."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: `token` is shown this once and never stored."""

    id: str
    token: str
    user: str
    role: Role
    expires_ms: int


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    user: str
    role: Role
    created_ms: int
    expires_ms: int
    revoked_ms: int | None


def hash_token(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def user_row_sync(session: Session, name: str, role: Role, organisation: str, region: str | None,
                  now_ms: int) -> User:
    """`name`'s row, created with `role` in `organisation` (which must exist) if new; an existing user's role
    and organisation must match. A regional user (role regional) needs its `region`, and only it has one."""
    if organisation != DEFAULT_ORGANISATION and session.get(Organisation, organisation) is None:
        raise ValueError(f"no organisation {organisation!r}")
    if (role == Role.REGIONAL) != (region is not None):
        raise ValueError("a regional user needs a region, and only a regional user has one")
    if region is not None and not REGION.fullmatch(region):
        raise ValueError(f"region {region!r} is not administrative codes, widest first, '/'-separated "
                         "(province/city/county, at most 4 levels)")
    row = session.scalar(select(User).where(User.name == name))
    if row is None:
        row = User(name=name, role=Role(role), created_ms=now_ms, disabled=False, organisation_id=organisation,
                   region=region)
        session.add(row)
        session.flush()
    elif row.role != role:
        raise ValueError(f"user {name!r} has role {row.role!r}, not {role!r}")
    elif row.organisation_id != organisation:
        raise ValueError(f"user {name!r} is in another organisation")
    return row


class TokenStore:
    """Issues, checks and revokes tokens."""

    def __init__(self, db: Database, key: bytes, clock: Clock = now_ms) -> None:
        self._db = db
        self._key = key
        self._clock = clock

    # --- sync cores (also used by the CLI) ---------------------------------

    def issue_sync(self, session: Session, user: str, role: Role, ttl_days: float,
                   token: str | None = None, now_ms: int | None = None,
                   organisation: str = DEFAULT_ORGANISATION, region: str | None = None) -> IssuedToken:
        """Issue a token for `user` (created with `role` in `organisation` if new; its role and
        organisation must match). A regional user (role regional) needs its `region`."""
        now = self._clock() if now_ms is None else now_ms
        row = user_row_sync(session, user, role, organisation, region, now)
        token_id = secrets.token_hex(6)
        token = token or f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        expires = now + int(ttl_days * DAY_MS)
        session.add(ApiToken(id=token_id, user_id=row.id, token_hash=hash_token(self._key, token),
                             created_ms=now, expires_ms=expires, revoked_ms=None))
        return IssuedToken(token_id, token, user, Role(role), expires)

    def ensure_sync(self, session: Session, user: str, role: Role, token: str, ttl_days: float) -> None:
        """Make sure `token` is accepted for `user` (the bootstrap admin token)."""
        digest = hash_token(self._key, token)
        found = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if found is None:
            self.issue_sync(session, user, role, ttl_days, token=token)
        elif found.revoked_ms is None:
            found.expires_ms = max(found.expires_ms, self._clock() + int(ttl_days * DAY_MS))

    # --- async API ------------------------------------------------------------

    async def issue(self, user: str, role: Role, ttl_days: float, organisation: str = DEFAULT_ORGANISATION,
                    region: str | None = None) -> IssuedToken:
        return await self._db.run(lambda s: self.issue_sync(s, user, role, ttl_days, organisation=organisation,
                                                            region=region))

    async def ensure(self, user: str, role: Role, token: str, ttl_days: float) -> None:
        await self._db.run(lambda s: self.ensure_sync(s, user, role, token, ttl_days))

    async def verify(self, token: str, now_ms: int | None = None) -> Principal:
        """The principal behind `token`; AuthError when it is not valid now."""
        if not token.startswith(PREFIX) or len(token) > 200:
            raise AuthError("not a Furrow token")
        digest = hash_token(self._key, token)
        now = self._clock() if now_ms is None else now_ms

        def look(session: Session) -> Principal:
            row = session.execute(
                select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == digest)
            ).first()
            if row is None:
                raise AuthError("unknown token")
            tok, user = row
            if tok.revoked_ms is not None:
                raise AuthError("token revoked")
            if tok.expires_ms <= now:
                raise AuthError("token expired")
            if user.disabled:
                raise AuthError("user disabled")
            return Principal(user.id, user.name, Role(user.role), tok.id, user.locale, user.organisation_id,
                             user.region)

        return await self._db.run(look)

    async def set_locale(self, user_id: int, locale: str | None) -> None:
        """Remember the dashboard language a person chose, for every browser she logs in from."""

        def store(session: Session) -> None:
            user = session.get(User, user_id)
            if user is not None:
                user.locale = locale

        await self._db.run(store)

    async def revoke(self, token_id: str, now_ms: int | None = None) -> bool:
        """Revoke a token by id; False when there is no such token."""
        now = self._clock() if now_ms is None else now_ms

        def revoke(session: Session) -> bool:
            tok = session.get(ApiToken, token_id)
            if tok is None:
                return False
            if tok.revoked_ms is None:
                tok.revoked_ms = now
            return True

        return await self._db.run(revoke)

    async def all(self, organisation: str) -> list[TokenInfo]:
        """The tokens of `organisation`'s users."""

        def list_(session: Session) -> list[TokenInfo]:
            q = (select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                 .where(User.organisation_id == organisation).order_by(ApiToken.created_ms))
            return [TokenInfo(t.id, u.name, Role(u.role), t.created_ms, t.expires_ms, t.revoked_ms)
                    for t, u in session.execute(q)]

        return await self._db.run(list_)
