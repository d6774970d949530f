#!/usr/bin/env python3
"""A stand-in for `mpremote` where no board can exist: the board is a folder (FAKE_BOARD) and the
MicroPython on it the real unix port (FAKE_MICROPYTHON), whose "/" is that folder while `exec` runs.

mpremote itself drives a board's raw REPL over a serial line, which the unix port does not serve; this
stand-in takes the same command line (`connect PORT` then `exec CODE`, `fs rm :PATH`, `fs cp [-r] SRC :DST`,
`reset`, chained with "+") and does what each would do to the board's file system. Every command line
it ran is appended to FAKE_BOARD/../mpremote.log (one JSON list per line).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

BOARD = Path(os.environ["FAKE_BOARD"])
PRELUDE = "import os\nos.umount('/')\nos.mount(os.VfsPosix(%r), '/')\n"


def _on_board(path: str) -> Path:
    return BOARD / path.lstrip(":").lstrip("/")


def main(argv: list[str]) -> int:
    with open(BOARD.parent / "mpremote.log", "a") as log:
        log.write(json.dumps(argv) + "\n")
    assert argv[:1] == ["connect"], argv
    commands, current = [], []
    for word in argv[2:]:
        if word == "+":
            commands.append(current)
            current = []
        else:
            current.append(word)
    commands.append(current)
    for cmd in commands:
        if cmd[0] == "exec":
            run = subprocess.run([os.environ["FAKE_MICROPYTHON"], "-c", PRELUDE % str(BOARD) + cmd[1]],
                                 capture_output=True, text=True, timeout=60)
            sys.stdout.write(run.stdout)
            sys.stderr.write(run.stderr)
            if run.returncode:
                return run.returncode
        elif cmd[:2] == ["fs", "rm"]:
            _on_board(cmd[2]).unlink()
        elif cmd[:3] == ["fs", "cp", "-r"]:
            shutil.copytree(cmd[3], _on_board(cmd[4]) / Path(cmd[3]).name, dirs_exist_ok=True)
        elif cmd[:2] == ["fs", "cp"]:
            shutil.copy(cmd[2], _on_board(cmd[3]))
        elif cmd != ["reset"]:
            print(f"fake mpremote: unknown command {cmd}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
