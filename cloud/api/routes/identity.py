"""Broker credentials for nodes and gateways: issue (or rotate) and revoke. Technicians and admins."""

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from furrow.edge.topics import check_id

from ...errors import NotFound
from ...identity import IssuedCredentials, gateway_username
from ..deps import AuditDep, CredentialsWriter, ServicesDep
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(tags=["identity"], route_class=JsonRoute)

_ERRORS = {404: {"model": ProblemResponse}, 422: {"model": ProblemResponse}}


class TopicsOut(BaseModel):
    publish: list[str]
    subscribe: list[str]


class NodeCredentialsOut(BaseModel):
    node_id: str
    site: str
    username: str
    password: str = Field(description="shown this once; only a hash is stored")
    issued_ms: int
    topics: TopicsOut


class GatewayCredentialsOut(BaseModel):
    site: str
    gateway: str
    username: str
    password: str = Field(description="shown this once; only a hash is stored")
    issued_ms: int
    topics: TopicsOut


def _topics(issued: IssuedCredentials) -> TopicsOut:
    return TopicsOut(**issued.topics.as_dict())


def _store(services: ServicesDep):
    assert services.credentials is not None
    return services.credentials


@router.post("/nodes/{node_id}/credentials", response_model=NodeCredentialsOut,
             status_code=status.HTTP_201_CREATED, responses=_ERRORS)
async def issue_node_credentials(node_id: str, services: ServicesDep, who: CredentialsWriter,
                                 audit: AuditDep) -> NodeCredentialsOut:
    """Issue the node's broker login, or rotate it (the old password stops working when the
    broker files are regenerated). The node must be registered in a zone: its site sets its topics."""
    issued = await _store(services).issue_node(check_id("node", node_id), by=who.name)
    await audit(who.name, "credentials.issue", f"node:{node_id}", username=issued.username)
    return NodeCredentialsOut(node_id=node_id, site=issued.site, username=issued.username, password=issued.password,
                              issued_ms=issued.issued_ms, topics=_topics(issued))


@router.delete("/nodes/{node_id}/credentials", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def revoke_node_credentials(node_id: str, services: ServicesDep, who: CredentialsWriter,
                                  audit: AuditDep) -> None:
    """Revoke the node's broker login (refused by the broker once its files are regenerated)."""
    if not await _store(services).revoke(check_id("node", node_id)):
        raise NotFound("node_id", node_id, "this node has no broker credentials")
    await audit(who.name, "credentials.revoke", f"node:{node_id}")


@router.post("/gateways/{site}/{gateway}/credentials", response_model=GatewayCredentialsOut,
             status_code=status.HTTP_201_CREATED, responses=_ERRORS)
async def issue_gateway_credentials(site: str, gateway: str, services: ServicesDep, who: CredentialsWriter,
                                    audit: AuditDep) -> GatewayCredentialsOut:
    """Issue (or rotate) a gateway's broker login for its site's topics; registers the gateway
    under the site if it is new. The site must exist."""
    issued = await _store(services).issue_gateway(check_id("site", site), check_id("gateway", gateway), by=who.name)
    await audit(who.name, "credentials.issue", f"gateway:{site}/{gateway}", username=issued.username)
    return GatewayCredentialsOut(site=site, gateway=gateway, username=issued.username, password=issued.password,
                                 issued_ms=issued.issued_ms, topics=_topics(issued))


@router.delete("/gateways/{site}/{gateway}/credentials", status_code=status.HTTP_204_NO_CONTENT,
               responses=_ERRORS)
async def revoke_gateway_credentials(site: str, gateway: str, services: ServicesDep, who: CredentialsWriter,
                                     audit: AuditDep) -> None:
    """Revoke a gateway's broker login."""
    username = gateway_username(check_id("site", site), check_id("gateway", gateway))
    if not await _store(services).revoke(username):
        raise NotFound("gateway", f"{site}/{gateway}", "this gateway has no broker credentials")
    await audit(who.name, "credentials.revoke", f"gateway:{site}/{gateway}")
