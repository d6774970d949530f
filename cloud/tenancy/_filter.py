"""Another organisation's items taken out of every JSON list the API answers.

The routes scope what they can by their queries; this is the net under all of them: an item (a
JSON object in a list) naming a site, field, zone or node of another organisation is dropped, at
any depth. A site or node nobody registered is the default organisation's (``holders``); another id
that exists nowhere is kept (a deleted field's history has no owner to ask).
"""

import json
from typing import Any

from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..db import Database
from ._job import EVENTS, LISTS, JobScope, job_scope
from ._owners import FIELD, IMPLEMENT, MACHINE, NODE, REGION, SITE, TASK, ZONE, Kind, holders
from ._single import single_organisation

ID_KEYS: dict[str, Kind] = {"site": SITE, "site_id": SITE, "field": FIELD, "field_id": FIELD, "zone": ZONE,
                            "zone_id": ZONE, "node": NODE, "node_id": NODE, "machine_id": MACHINE,
                            "implement_id": IMPLEMENT, "task_id": TASK, "region_id": REGION}


def collect_ids(data: Any, out: dict[Kind, set[str]]) -> None:
    """Every site, field, zone and node id named in `data`, by kind, into `out`."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ID_KEYS and isinstance(value, str):
                out.setdefault(ID_KEYS[key], set()).add(value)
            else:
                collect_ids(value, out)
    elif isinstance(data, list):
        for item in data:
            collect_ids(item, out)


def _foreign(item: dict, others: dict[Kind, set[str]]) -> bool:
    return any(isinstance(v, str) and k in ID_KEYS and v in others.get(ID_KEYS[k], ()) for k, v in item.items())


def _prune(data: Any, others: dict[Kind, set[str]]) -> Any:
    if isinstance(data, dict):
        return {k: _prune(v, others) for k, v in data.items()}
    if isinstance(data, list):
        return [_prune(x, others) for x in data if not (isinstance(x, dict) and _foreign(x, others))]
    return data


def foreign_ids(session: Session, organisation: str, data: Any) -> dict[Kind, set[str]]:
    """The ids in `data` that belong to another organisation, by kind."""
    found: dict[Kind, set[str]] = {}
    collect_ids(data, found)
    return {kind: {i for i, org in holders(session, kind, ids).items() if org != organisation}
            for kind, ids in found.items()}


def visible(session: Session, organisation: str, data: Any) -> Any:
    """`data` without the list items that name another organisation's site, field, zone or node; None
    when `data` itself is such an object (an event of another farm)."""
    others = foreign_ids(session, organisation, data)
    if isinstance(data, dict) and _foreign(data, others):
        return None
    return _prune(data, others)


class TenantFilter:
    """ASGI middleware: the JSON answers (2xx) of /api/v1 pass through ``visible`` for the caller's
    organisation, which ``deps.scoped`` put in the request's state. On an installation of one
    organisation (``SingleOrganisation``) answers pass untouched, unparsed. An operator's answer (a job,
    ``deps.job_reader`` put it in the state too) is then narrowed to the job; one that is wholly outside it
    (an operation of another machine) becomes the 404 of an id that does not exist."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/v1/"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def relay(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                json_ok = (200 <= message["status"] < 300
                           and headers.get(b"content-type", b"").startswith(b"application/json"))
                organisation = (scope.get("state") or {}).get("organisation")
                job = (scope.get("state") or {}).get("job")
                if not json_ok or organisation is None or (job is None and await single_organisation(
                        scope["app"].state.services.db).holds(organisation)):
                    await send(message)  # nothing to check: the body passes as it comes
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            organisation = (scope.get("state") or {}).get("organisation")
            services = scope["app"].state.services
            job: JobScope | None = (scope.get("state") or {}).get("job")
            if organisation is not None and body:
                data = json.loads(body)
                kept = await services.db.run(lambda s: _prune(data, foreign_ids(s, organisation, data)))
                if job is not None:
                    path = scope["path"].removeprefix("/api/v1/").split("/")
                    top = LISTS.get(path[1]) if path[0] == "registry" and len(path) > 1 else None
                    kept = job.narrow(kept, top)
                    if kept is None:  # the thing asked for is another's job: as if it did not exist
                        await not_in_job(send)
                        return
                if kept != data:
                    body = json.dumps(kept, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, relay)


async def not_in_job(send: Send) -> None:
    """The 404 of a thing outside the caller's job (the shape of every error answer, api/errors.py)."""
    body = json.dumps({"detail": [{"field": "id", "value": None, "reason": "nothing with this id in your job"}]},
                      separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class EventScope:
    """One event stream's view: ``await scope.keep(data)`` is `data` as ``visible`` gives it, with the
    owners it has looked up remembered for the stream's life (an id no one owns yet is asked again)."""

    def __init__(self, db: Database, organisation: str, job_of: str | None = None) -> None:
        self._db = db
        self._organisation = organisation
        self._job_of = job_of  # an operator's name: the stream of their job only
        self._job: JobScope | None = None
        self._owner: dict[tuple[Kind, str], str] = {}

    async def keep(self, data: Any, kind: str | None = None) -> Any:
        """`data` as this stream may see it, None when not at all. An operator's stream (`job_of`) carries only
        the kinds of event a job has (``_job.EVENTS``), narrowed to the job; a new plan (a "dispatch" event) may
        change the job, which is then read again."""
        if self._job_of is None:
            return await self._keep(data)
        if kind not in EVENTS:
            return None
        if self._job is None or kind == "dispatch":
            organisation, person = self._organisation, self._job_of
            self._job = await self._db.run(lambda s: job_scope(s, organisation, person))
        kept = await self._keep(data)
        return None if kept is None else self._job.narrow(kept)

    async def _keep(self, data: Any) -> Any:
        found: dict[Kind, set[str]] = {}
        collect_ids(data, found)
        need = {kind: {i for i in ids if (kind, i) not in self._owner} for kind, ids in found.items()}
        need = {kind: ids for kind, ids in need.items() if ids}
        if need:
            resolved = await self._db.run(lambda s: {kind: holders(s, kind, ids) for kind, ids in need.items()})
            for kind, got in resolved.items():
                self._owner.update({(kind, i): org for i, org in got.items()})
        others = {kind: {i for i in ids if self._owner.get((kind, i), self._organisation) != self._organisation}
                  for kind, ids in found.items()}
        if isinstance(data, dict) and _foreign(data, others):
            return None
        return _prune(data, others)
