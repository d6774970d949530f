"""The relational side: node routes and irrigation commands, on SQLAlchemy 2.

SQLite at ``<data_dir>/furrow.db`` by default; any SQLAlchemy URL works
(PostgreSQL where more than one cloud instance runs). The engine is
synchronous and every call runs in a worker thread through ``Database.run``.

Tables are created with ``create_all`` at startup. Versioned migrations
(Alembic) come with the farm registry, before the schema first changes.
"""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

T = TypeVar("T")


class Base(DeclarativeBase):
    pass


class NodeRoute(Base):
    """Which gateway of which site a node was last heard through: where its commands go."""

    __tablename__ = "node_routes"

    node: Mapped[str] = mapped_column(String(32), primary_key=True)
    site: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str] = mapped_column(String(32))
    last_seen_ms: Mapped[int] = mapped_column(BigInteger)


class CommandRow(Base):
    """One irrigation command and where it is in its lifecycle."""

    __tablename__ = "commands"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(32), index=True)
    site: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str] = mapped_column(String(32))
    valve: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    duration_s: Mapped[int | None] = mapped_column(Integer)
    max_runtime_s: Mapped[int] = mapped_column(Integer)
    not_before_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    runtime_s: Mapped[int | None] = mapped_column(Integer)
    volume_l: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(String(200))


class CommandEvent(Base):
    """One step of a command's history, as it happened (late acks included).

    A command reaches each state once, so (command_id, state) is unique: the
    same acknowledgement delivered twice adds nothing.
    """

    __tablename__ = "command_events"
    __table_args__ = (UniqueConstraint("command_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    command_id: Mapped[str] = mapped_column(ForeignKey("commands.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200))


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """An engine and a session factory; ``run`` calls a sync function in a thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        is_sqlite = url.startswith("sqlite")
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False} if is_sqlite else {}
        self.engine: Engine = create_engine(url, connect_args=connect_args)
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        Base.metadata.create_all(self.engine)

    async def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in a worker thread, committing when it returns."""

        def call() -> T:
            with self.sessions.begin() as session:
                return fn(session)

        return await asyncio.to_thread(call)

    def dispose(self) -> None:
        self.engine.dispose()
