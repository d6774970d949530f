"""Tokens: who am I, issue, list, revoke (admin)."""

from dataclasses import asdict

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from furrow.edge.errors import ContractError

from ...auth import Role
from ...dashboard import locales
from ...errors import NotFound
from ...tenancy import SITE, refuse_foreign
from ..deps import AnyRole, AuditDep, JobReader, ServicesDep, UserAdmin
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(prefix="/auth", tags=["auth"], route_class=JsonRoute)


class Me(BaseModel):
    name: str
    role: Role
    token_id: str
    locale: str | None = Field(description="the dashboard language this person chose (en, zh-CN); null: the "
                                           "browser's")


class LocaleIn(BaseModel):
    locale: str | None = Field(examples=["zh-CN"], description="one of the dashboard's languages; null forgets "
                                                                "the choice")


class TokenCreate(BaseModel):
    user: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$", examples=["maria"])
    role: Role
    ttl_days: float | None = Field(default=None, gt=0, le=3650)


class TokenIssued(BaseModel):
    id: str
    token: str = Field(description="shown this once; only its hash is stored")
    user: str
    role: Role
    expires_ms: int


class TokenInfoOut(BaseModel):
    id: str
    user: str
    role: Role
    created_ms: int
    expires_ms: int
    revoked_ms: int | None


@router.get("/me", response_model=Me)
async def me(who: AnyRole) -> Me:
    """The caller behind the token."""
    return Me(name=who.name, role=who.role, token_id=who.token_id, locale=who.locale)


@router.put("/me/locale", response_model=Me)
async def set_locale(body: LocaleIn, services: ServicesDep, who: JobReader) -> Me:
    """Remember the dashboard language the caller chose, so it follows her to another browser."""
    if body.locale is not None and body.locale not in locales():
        raise ContractError("locale", body.locale, f"not one of the dashboard's languages {locales()}")
    await services.tokens.set_locale(who.user_id, body.locale)
    return Me(name=who.name, role=who.role, token_id=who.token_id, locale=body.locale)


@router.post("/tokens", response_model=TokenIssued, status_code=status.HTTP_201_CREATED)
async def issue_token(body: TokenCreate, services: ServicesDep, who: UserAdmin, audit: AuditDep) -> TokenIssued:
    """Issue a token for a user (created with the role if new). The token is shown once."""
    s = services.settings
    ttl = body.ttl_days or (s.gateway_token_ttl_days if body.role is Role.GATEWAY else s.token_ttl_days)
    try:
        if body.role is Role.GATEWAY:  # <site>.<gateway>: it speaks for a site of the caller's organisation
            await refuse_foreign(services.db, who.organisation, SITE, body.user.split(".", 1)[0], "user")
        issued = await services.tokens.issue(body.user, body.role, ttl, organisation=who.organisation)
    except ValueError as e:
        raise ContractError("role", body.role, str(e)) from None
    await audit(who.name, "token.issue", f"user:{issued.user}", token_id=issued.id, role=str(issued.role))
    return TokenIssued(id=issued.id, token=issued.token, user=issued.user, role=issued.role,
                       expires_ms=issued.expires_ms)


@router.get("/tokens", response_model=list[TokenInfoOut])
async def list_tokens(services: ServicesDep, who: UserAdmin) -> list[TokenInfoOut]:
    """Every token of the caller's organisation (never the secret), oldest first."""
    return [TokenInfoOut(**asdict(t)) for t in await services.tokens.all(who.organisation)]


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"model": ProblemResponse}})
async def revoke_token(token_id: str, services: ServicesDep, who: UserAdmin, audit: AuditDep) -> None:
    """Revoke a token: it stops working at once."""
    if not await services.tokens.revoke(token_id):
        raise NotFound("token_id", token_id, "no token with this id")
    await audit(who.name, "token.revoke", f"token:{token_id}")
