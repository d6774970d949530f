"""GET /stats and GET /health."""

from fastapi import APIRouter

from ..deps import AnyRole, Reader, ServicesDep
from ..json_body import JsonRoute
from ..schemas import HealthOut, JobOut, StatsOut

router = APIRouter(tags=["status"], route_class=JsonRoute)


@router.get("/stats", response_model=StatsOut)
async def stats(services: ServicesDep, _: Reader) -> StatsOut:
    """Readings stored, commands by state, and the counters of this instance."""
    return StatsOut(
        readings_stored=await services.store.count(),
        commands=await services.commands.counts(),
        acks=dict(services.commands.ack_outcomes),
        mqtt=dict(services.worker.stats) if services.worker else {},
    )


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
