"""Faults on links and processes, for HIL scenarios (re-exported by hil/faults.py).

- `LinkCut`: a TCP hop in front of a real server that can go down (the WAN
  between gateway and cloud, a node's radio link);
- `GatewayProcess`: `furrow gateway --config FILE` as a real process, to
  SIGKILL and start again, with `gateway_toml` writing its config.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any


class LinkCut:
    """A TCP hop in front of a real server that can go down: `down()` drops
    every connection and refuses new ones until `up()`. Put it between the
    gateway and the cloud broker for a WAN outage, or between a node and the
    farm broker for a node out of radio reach."""

    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host, self.port = host, 0
        self.is_up = True
        self.outages = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.is_up = False
        self._cut()
        if self._server is not None:
            self._server.close()
            self._server = None

    def down(self) -> None:
        """The link goes: connections drop and the port stops listening, so a
        client's next connect fails at once (refused), as on a dead route."""
        if self.is_up:
            self.outages += 1
        self.is_up = False
        self._cut()
        if self._server is not None:
            self._server.close()
            self._server = None

    async def up(self) -> None:
        """The link is back, on the same port."""
        self.is_up = True
        if self._server is None:
            await self.start()

    async def outage(self, seconds: float) -> None:
        self.down()
        try:
            await asyncio.sleep(seconds)
        finally:
            await self.up()

    def _cut(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._writers.update(pair)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            for w in pair:
                w.transport.abort()
                self._writers.discard(w)

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        text = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # inside a table: an inline table, e.g. [command_auth] keys
        return "{" + ", ".join(f"{_toml_value(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"cannot write {value!r} to a gateway config")


def gateway_toml(config: dict[str, Any]) -> str:
    """A gateway config dict (GatewayConfig's fields, tables as dicts) as TOML."""
    lines, tables = [], []
    for key, value in config.items():
        if isinstance(value, dict):
            tables.append(f"[{key}]")
            tables += [f"{k} = {_toml_value(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines + tables) + "\n"


class GatewayProcess:
    """`furrow gateway --config FILE` as a real process that can be SIGKILLed."""

    def __init__(self, config: dict[str, Any], folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.config_path = folder / "gateway.toml"
        self.config_path.write_text(gateway_toml(config))
        self.log_path = folder / "gateway.log"
        self.kills = 0
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        code = "import sys; from furrow.cli import main; sys.exit(main(sys.argv[1:]))"
        with self.log_path.open("ab") as out:
            self._proc = subprocess.Popen([sys.executable, "-c", code, "gateway", "--config", str(self.config_path)],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1

    async def kill(self) -> None:
        """SIGKILL: no cleanup, no last flush, as a power cut or the OOM killer."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
            self.kills += 1

    async def stop(self) -> int | None:
        """SIGTERM, the graceful way; returns the exit status."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 10)
        return proc.returncode

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
