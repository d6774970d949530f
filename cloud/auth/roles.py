"""Roles and what each may do: one table, read by the API's route guards."""

from enum import StrEnum


class Role(StrEnum):
    TECHNICIAN = "technician"  # farm registry, node commissioning, reads
    AGRONOMIST = "agronomist"  # reads everything, plans and overrides irrigation
    GATEWAY = "gateway"  # ingest and command acknowledgements, nothing else
    ADMIN = "admin"  # everything of its organisation, including users and tokens
    REGIONAL = "regional"  # an extension service or bureau: a region's aggregates, never one farm (issue 21)
    OPERATOR = "operator"  # drives a machine: reads its own job and reports on its tasks (issue 20)


class Permission(StrEnum):
    READ = "read"  # readings, nodes, registry, commands, stats
    JOB_READ = "job_read"  # one's own job: its tasks, their fields and machines, those fields' map and progress
    REGISTRY_WRITE = "registry_write"  # sites, fields, zones, nodes, valves
    COMMAND_WRITE = "command_write"  # create and cancel irrigation commands
    PLAN = "plan"  # run the irrigation planner for a zone and override it
    INGEST = "ingest"  # batches and command acknowledgements from gateways
    USER_ADMIN = "user_admin"  # users and tokens
    CREDENTIALS_WRITE = "credentials_write"  # issue, rotate, revoke node and gateway broker logins
    AUDIT_READ = "audit_read"  # the audit log
    ALERT_ACK = "alert_ack"  # acknowledge an alert (a person has seen it)
    PEST_REVIEW = "pest_review"  # correct the insects counted on a trap photo
    OPERATIONS_WRITE = "operations_write"  # record a machine's field operation from its track; dispatch tasks, plans
    TASK_REPORT = "task_report"  # report a dispatch task's progress or the machine's breakdown (an operator: its own)
    RECORDS_WRITE = "records_write"  # add a production record (sowing, spraying, harvest ...) or correct one
    TRACE_SIGN = "trace_sign"  # sign the production records' chain heads now (the job does it at intervals)
    REGIONAL_READ = "regional_read"  # the regional view: aggregates over a region's sharing organisations
    REGIONAL_PUBLISH = "regional_publish"  # publish an open dataset of the regional view, after its privacy check
    HEALTH = "health"  # is the service up (every role)


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.TECHNICIAN: frozenset({Permission.READ, Permission.JOB_READ, Permission.REGISTRY_WRITE,
                                Permission.CREDENTIALS_WRITE,
                                Permission.ALERT_ACK, Permission.PEST_REVIEW, Permission.OPERATIONS_WRITE,
                                Permission.TASK_REPORT, Permission.HEALTH}),
    Role.AGRONOMIST: frozenset({Permission.READ, Permission.JOB_READ, Permission.COMMAND_WRITE, Permission.PLAN,
                                Permission.ALERT_ACK,
                                Permission.PEST_REVIEW, Permission.OPERATIONS_WRITE, Permission.RECORDS_WRITE,
                                Permission.TASK_REPORT, Permission.HEALTH}),
    # reads its job and nothing else of the farm (job_read without read: cloud/tenancy/_job.py says what a job
    # holds); changes no irrigation, registry, fertility or plan: reports on its own machine's tasks only
    # (machinery/jobs.py checks that one)
    Role.OPERATOR: frozenset({Permission.JOB_READ, Permission.TASK_REPORT, Permission.HEALTH}),
    Role.GATEWAY: frozenset({Permission.INGEST, Permission.HEALTH}),
    # a farm's admin sees its farm, not a region
    Role.ADMIN: frozenset(Permission) - {Permission.REGIONAL_READ, Permission.REGIONAL_PUBLISH},
    Role.REGIONAL: frozenset({Permission.REGIONAL_READ, Permission.REGIONAL_PUBLISH, Permission.HEALTH}),
}


def allows(role: Role, permission: Permission) -> bool:
    """Whether `role` holds `permission`."""
    return permission in GRANTS[role]


def roles_with(permission: Permission) -> list[Role]:
    """The roles holding `permission`, for error messages and docs."""
    return [r for r in Role if permission in GRANTS[r]]
