"""`furrow demo`, run as a user runs it: the real command in a subprocess (its whole run, the
season and the dashboard: tests/test_demo_browser.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from furrow.hil.broker import port_is_free
from tests.servers import free_port

FURROW = [sys.executable, "-m", "furrow.cli"]


def test_demo_refuses_a_busy_port_with_what_to_do(tmp_path):
    """If the API port is taken, the demo says which port and which flag to use."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([*FURROW, "demo", "--duration", "1", "--data-dir", str(tmp_path / "d"),
                                 "--port", str(port)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"API port {port}" in result.stderr and "--port" in result.stderr


def test_demo_never_wipes_a_folder_it_did_not_make(tmp_path):
    """--data-dir pointing at a user's non-empty folder is refused, and the folder is untouched."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    result = subprocess.run([*FURROW, "demo", "--duration", "1", "--data-dir", str(precious),
                             "--port", str(free_port()), "--mqtt-port", str(free_port()),
                             "--modbus-port", str(free_port())],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "not made by a demo" in result.stderr
    assert (precious / "notes.txt").read_text() == "keep me"


def test_a_port_left_in_time_wait_by_the_last_demo_counts_as_free():
    """A server that just stopped leaves its closed connections in TIME_WAIT for a minute: the demo's
    port check must see the port as free (as uvicorn does), while a listening server still counts."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    assert not port_is_free("127.0.0.1", port)  # listening
    accepted.close()  # the server side closes first: its end of the connection goes to TIME_WAIT
    client.close()
    server.close()
    assert _in_time_wait(port)
    assert port_is_free("127.0.0.1", port)


def _in_time_wait(port: int) -> bool:
    """Whether the kernel holds a TIME_WAIT socket on local `port` (/proc/net/tcp, state 06)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if int(local.split(":")[1], 16) == port and state == "06":
            return True
    return False
