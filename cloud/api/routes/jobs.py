"""The operators' side of dispatch (issue 20): the jobs of the machines the caller drives, a task's report
(progress, done, breakdown: the last two plan again), and progress per region of the farm."""

from fastapi import APIRouter, Request

from ...machinery.jobs import JobOut, Jobs, TaskReportIn, TaskReportOut
from ...machinery.regions import RegionProgress, region_progress
from ..deps import AuditDep, ClockDep, JobReader, Reader, TaskReporter, get_services
from ..json_body import JsonRoute
from ..schemas import ProblemResponse

router = APIRouter(tags=["operations"], route_class=JsonRoute)


def _jobs(request: Request) -> Jobs:
    services = get_services(request)
    return Jobs(services.db, services.operations)


@router.get("/jobs/mine", response_model=list[JobOut])
async def my_jobs(request: Request, who: JobReader) -> list[JobOut]:
    """The machines the caller drives (the registry machine's `operator` is the caller's name) and each one's
    stops in the farm's current dispatch plan: what an operator's phone opens on."""
    return await _jobs(request).mine(who)


@router.post("/tasks/{task_id}/report", response_model=TaskReportOut,
             responses={403: {"model": ProblemResponse}, 404: {"model": ProblemResponse},
                        409: {"model": ProblemResponse}})
async def report_task(task_id: str, body: TaskReportIn, request: Request, who: TaskReporter, audit: AuditDep,
                      clock: ClockDep) -> TaskReportOut:
    """Report on a task of the current plan: `working` (with the share done as seen), `done` (it leaves the
    plan) or `breakdown` (the machine is marked broken and its tasks go to the others). Done and breakdown plan
    again from the registry and keep the plan, so every job page follows. An operator may report only on the
    tasks of a machine they drive (403 otherwise)."""
    out = await _jobs(request).report(task_id, body, who, clock())
    await audit(who.name, "task.report", f"task:{task_id}", report=body.report, done_pct=body.done_pct,
                machine=out.machine, replanned=out.replanned_id)
    return out


@router.get("/progress/regions", response_model=list[RegionProgress])
async def regions_progress(request: Request, who: Reader) -> list[RegionProgress]:
    """Per region of the farm (GET /registry/regions): its fields' area and each kind of operation's covered
    ground summed, and the area planted (the sowing operations' covered ground)."""
    services = get_services(request)
    return await region_progress(services.db, services.operations, who.organisation)
