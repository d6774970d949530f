"""What routes depend on, as ``Annotated[..., Depends()]`` aliases."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..commands import CommandService
from ..db import Database
from ..mqtt_worker import MqttWorker
from ..node_routes import NodeRoutes
from ..settings import Settings
from ..storage import ReadingStore


@dataclass
class Services:
    """Everything the lifespan opens, shared by all requests."""

    settings: Settings
    store: ReadingStore
    db: Database
    routes: NodeRoutes
    commands: CommandService
    worker: MqttWorker | None = None


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_store(request: Request) -> ReadingStore:
    return get_services(request).store


def get_routes(request: Request) -> NodeRoutes:
    return get_services(request).routes


def get_commands(request: Request) -> CommandService:
    return get_services(request).commands


ServicesDep = Annotated[Services, Depends(get_services)]
StoreDep = Annotated[ReadingStore, Depends(get_store)]
RoutesDep = Annotated[NodeRoutes, Depends(get_routes)]
CommandsDep = Annotated[CommandService, Depends(get_commands)]
