"""Password login for people: scrypt hashes in users.password_hash.

Format ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<key b64>``, so the cost can be
raised later without breaking stored hashes. A login for a user that does
not exist still runs one scrypt, so the answer's timing does not tell which
names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import DEFAULT_ORGANISATION, User
from .roles import Role
from .tokens import user_row_sync

LOG2_N, R, P = 14, 8, 1  # 16 MiB and ~50 ms per hash on one core
SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD_LEN = 12
MAX_PASSWORD_LEN = 1024


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**log2_n, r=r, p=p, dklen=KEY_BYTES,
                          maxmem=2**log2_n * r * 128 * 2)


def hash_user_password(password: str) -> str:
    salt = os.urandom(SALT_BYTES)
    key = _scrypt(password, salt, LOG2_N, R, P)
    return f"scrypt${LOG2_N}${R}${P}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


_DUMMY = hash_user_password("furrow-no-such-user")


def check_user_password(password: str, hashed: str | None) -> bool:
    """Whether `password` matches; with no hash (no such user, or tokens only) it is False,
    after the same work."""
    if len(password) > MAX_PASSWORD_LEN:
        return False
    try:
        kind, log2_n, r, p, salt, key = (hashed or _DUMMY).split("$")
        if kind != "scrypt":
            return False
        got = _scrypt(password, base64.b64decode(salt), int(log2_n), int(r), int(p))
    except ValueError:
        return False
    return hashed is not None and hmac.compare_digest(got, base64.b64decode(key))


def check_new_password(password: str) -> str:
    """A password good enough to set; ValueError saying why not."""
    if len(password) < MIN_PASSWORD_LEN:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LEN} characters")
    if len(password) > MAX_PASSWORD_LEN:
        raise ValueError(f"a password may have at most {MAX_PASSWORD_LEN} characters")
    if password.strip() != password or "\n" in password:
        raise ValueError("a password may not start or end with white space")
    return password


def set_password_sync(session: Session, name: str, role: Role, password: str, *, now_ms: int,
                      organisation: str = DEFAULT_ORGANISATION, region: str | None = None) -> bool:
    """Set `name`'s password (creating the user with `role` in `organisation`, and a regional user's `region`,
    if new, at `now_ms`); True when the user is new. An existing user keeps its role and organisation, which
    must match."""
    check_new_password(password)
    if role is Role.GATEWAY:
        raise ValueError("gateways log in with tokens, not passwords")
    created = session.scalar(select(User.id).where(User.name == name)) is None
    row = user_row_sync(session, name, Role(role), organisation, region, now_ms)
    row.password_hash = hash_user_password(password)
    return created
