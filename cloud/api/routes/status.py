"""GET /stats and GET /health."""

from fastapi import APIRouter

from ...db import DEFAULT_ORGANISATION
from ...tenancy import org_nodes
from ..deps import AnyRole, Reader, ServicesDep
from ..json_body import JsonRoute
from ..schemas import HealthOut, JobOut, StatsOut

router = APIRouter(tags=["status"], route_class=JsonRoute)


@router.get("/stats", response_model=StatsOut)
async def stats(services: ServicesDep, who: Reader) -> StatsOut:
    """Readings stored, commands by state, and the counters of this instance. The service's own counters
    (all readings, acknowledgements, MQTT) are the default organisation's, which runs the service; another
    organisation gets its own nodes' readings and commands, and no instance counters."""
    if who.organisation == DEFAULT_ORGANISATION:
        return StatsOut(
            readings_stored=await services.store.count(),
            commands=await services.commands.counts(),
            acks=dict(services.commands.ack_outcomes),
            mqtt=dict(services.worker.stats) if services.worker else {},
        )
    nodes = sorted(await services.db.run(lambda s: org_nodes(s, who.organisation)))
    return StatsOut(readings_stored=sum([await services.store.count(n) for n in nodes]),
                    commands=await services.commands.counts(nodes), acks={}, mqtt={})


@router.get("/health", response_model=HealthOut)
async def health(services: ServicesDep, _: AnyRole) -> HealthOut:
    """The service is up; which storage it uses and whether its broker link is."""
    worker = services.worker
    if worker is None:
        mqtt = "disabled"
    else:
        mqtt = "connected" if worker.connected else "disconnected"
    cluster = services.cluster
    assert cluster is not None
    held = cluster.leases.held()
    jobs = {job: JobOut(held=job in held, runs=cluster.leases.runs[job]) for job in held | set(cluster.leases.runs)}
    return HealthOut(status="ok", storage=services.store.backend, mqtt=mqtt, instance=cluster.instance,
                     cluster=cluster.state, jobs=jobs)
