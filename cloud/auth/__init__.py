"""Who may call the API: roles, users and hashed bearer tokens."""

from .roles import GRANTS, Permission, Role, allows, roles_with
from .tokens import AuthError, IssuedToken, Principal, TokenInfo, TokenStore, hash_token

__all__ = [
    "GRANTS",
    "AuthError",
    "IssuedToken",
    "Permission",
    "Principal",
    "Role",
    "TokenInfo",
    "TokenStore",
    "allows",
    "hash_token",
    "roles_with",
]
