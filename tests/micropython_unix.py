"""The MicroPython unix port, built from the release source, for the firmware's heap and network tests.

Beside the WebAssembly runtime (tests/micropython/), the unix port gives the
tests what a board has and a browser runtime lacks: real sockets, a fixed heap
(`-X heapsize=N`) and a garbage collector that runs. It is built 32-bit
(`MICROPY_FORCE_32BIT=1`, Debian's gcc-multilib), so objects are laid out as
on an ESP32 or RP2040.

The source is MicroPython 1.27.0 as kept in `shared/third_party/` beside the
clone (trimmed to the unix port, with umqtt), or the official release tarball
named by FURROW_MICROPYTHON_SRC. The build is cached under
``~/.cache/furrow`` (FURROW_CACHE to move it) and shared by every clone on the
machine: the first build takes a few minutes, later runs none.

Frozen images (a node's modules compiled into the binary, as a board's
firmware holds them) are built from the cached tree in a copy of its build
folder, so only the frozen modules are compiled and linked: seconds, and
cached by the manifest's content. Only the binary of a frozen build is kept
(``frozen/<digest>``, about 0.5 MB, the newest FROZEN_KEEP of them): its
build folder, 43 MB of objects, goes once it has linked, so the cache stays
near 70 MB (the tree, the base build and the binaries) however many images
the tests freeze.

    python tests/micropython_unix.py        # build (or find) the port; prints the binary's path
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VERSION = "1.27.0"
SOURCE_NAMES = (f"micropython-{VERSION}-unix-src.tar.gz", f"micropython-{VERSION}.tar.xz")
# third_party/README.md's build: 32-bit, no TLS, no btree, no FFI (their libraries are not in the source).
MAKE_FLAGS = ("MICROPY_FORCE_32BIT=1", "MICROPY_PY_BTREE=0", "MICROPY_SSL_AXTLS=0", "MICROPY_SSL_MBEDTLS=0",
              "MICROPY_PY_SSL=0", "MICROPY_PY_FFI=0")
BASE_BUILD = "build-furrow"
# The base binary freezes one tiny module so that frozen-module support is compiled in, and a frozen
# image then only adds its modules (an empty manifest would leave that support out).
_PROBE_MANIFEST = 'module("furrow_frozen_probe.py")\n'
_PROBE_MODULE = "# frozen-module support is compiled into this binary\n"
FROZEN_KEEP = 16  # frozen binaries kept in the cache, most recently used first
STALE_S = 3600  # a build folder of the old layout (build-frozen-*) untouched this long is removed
UNIXBOARD = Path(__file__).resolve().parent / "unixboard.py"


class BuildError(RuntimeError):
    """The port cannot be built; the message says what to do."""


def _shared_dirs() -> list[Path]:
    """Where shared/third_party may be: beside this clone, and beside the main checkout of a worktree."""
    roots = [ROOT]
    try:
        common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--git-common-dir"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if common:
            roots.append((ROOT / common).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        pass
    return [r.parent / "shared" / "third_party" for r in roots]


def find_source() -> Path:
    """The MicroPython source tarball, or BuildError saying where it was looked for and what to do."""
    named = os.environ.get("FURROW_MICROPYTHON_SRC")
    if named:
        if Path(named).is_file():
            return Path(named)
        raise BuildError(f"FURROW_MICROPYTHON_SRC={named}: no such file (give the path of "
                         f"{SOURCE_NAMES[1]} or {SOURCE_NAMES[0]})")
    looked = []
    for folder in _shared_dirs():
        for name in SOURCE_NAMES:
            looked.append(folder / name)
            if (folder / name).is_file():
                return folder / name
    raise BuildError(
        f"the MicroPython {VERSION} source is missing; looked for {', '.join(str(p) for p in looked)}.\n"
        f"Put the project's shared/ folder beside the clone (CI has it there), or download {SOURCE_NAMES[1]} "
        f"from micropython.org (release v{VERSION}) and run again with FURROW_MICROPYTHON_SRC=/path/to/it.")


def cache_root() -> Path:
    return Path(os.environ.get("FURROW_CACHE") or Path.home() / ".cache" / "furrow")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time per cache entry, across processes and clones."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _make(args: list[str], cwd: Path, what: str) -> None:
    with tempfile.TemporaryFile("w+") as log:
        result = subprocess.run(["make", "-j2", *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT, timeout=3600)
        if result.returncode != 0:
            log.seek(0)
            tail = "".join(log.readlines()[-30:])
            hint = ""
            if "gnu/stubs-32.h" in tail or "cannot find -lgcc" in tail or "crt1.o" in tail:
                hint = "\nThe 32-bit build needs Debian's gcc-multilib: apt-get install gcc-multilib"
            raise BuildError(f"{what} failed (make {' '.join(args)} in {cwd}):\n{tail}{hint}")


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


class UnixPort:
    """The cached 32-bit unix port: `binary`, `mpy_cross`, `frozen(manifest)`, `run(...)`."""

    def __init__(self, source: Path | None = None) -> None:
        self.source = source or find_source()
        digest = hashlib.sha256()
        with open(self.source, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(repr((MAKE_FLAGS, _PROBE_MANIFEST)).encode())
        self.home = cache_root() / f"micropython-{VERSION}-unix32-{digest.hexdigest()[:12]}"
        self.tree = self.home / f"micropython-{VERSION}"
        self.port_dir = self.tree / "ports" / "unix"
        self.binary = self.port_dir / BASE_BUILD / "micropython"
        self.mpy_cross = self.tree / "mpy-cross" / "build" / "mpy-cross"
        self.umqtt_dir = self.tree / "lib" / "micropython-lib" / "micropython" / "umqtt.simple"

    def ensure_built(self) -> Path:
        """Build the port once (a few minutes); later calls only check. Returns the binary."""
        done = self.home / "built.json"
        if done.is_file() and self.binary.is_file():
            return self.binary
        if shutil.which("make") is None or shutil.which("gcc") is None:
            raise BuildError("building MicroPython needs make and gcc: apt-get install build-essential gcc-multilib")
        with _locked(self.home.with_suffix(".lock")):
            if done.is_file() and self.binary.is_file():
                return self.binary
            _say(f"building the MicroPython {VERSION} unix port (32-bit) from {self.source} into {self.home}; "
                 "a few minutes, once")
            if self.home.exists():
                shutil.rmtree(self.home)
            self.home.mkdir(parents=True)
            with tarfile.open(self.source) as tar:
                tar.extractall(self.home, filter="data")
            if not self.port_dir.is_dir():
                raise BuildError(f"{self.source} holds no micropython-{VERSION}/ports/unix")
            probe = self.home / "probe"
            probe.mkdir()
            (probe / "furrow_frozen_probe.py").write_text(_PROBE_MODULE)
            (probe / "manifest.py").write_text(_PROBE_MANIFEST)
            _make([], self.tree / "mpy-cross", "building mpy-cross")
            _make([f"BUILD={BASE_BUILD}", f"FROZEN_MANIFEST={probe / 'manifest.py'}", *MAKE_FLAGS], self.port_dir,
                  "building the unix port")
            done.write_text(json.dumps({"source": str(self.source), "flags": MAKE_FLAGS}) + "\n")
        return self.binary

    def frozen(self, manifest: str, inputs: list[Path]) -> Path:
        """A binary with `manifest` (manifest.py text) frozen in, built (seconds) or found in the cache;
        `inputs` are the files it freezes (their content keys the cache). The build folder is removed
        once the binary is linked: only the binary stays (``frozen/<digest>``)."""
        self.ensure_built()
        digest = hashlib.sha256(manifest.encode())
        for path in sorted(inputs):
            digest.update(str(path).encode() + b"\0" + path.read_bytes())
        key = digest.hexdigest()[:12]
        binary = self.home / "frozen" / key
        with _locked(self.home / "frozen.lock"):
            if binary.is_file():
                os.utime(binary)  # recently used: kept by _prune
            else:
                build = f"build-fz-{key}"  # not the old layout's name (build-frozen-*), which older clones use
                partial = self.port_dir / build
                if partial.exists():
                    shutil.rmtree(partial)
                shutil.copytree(self.port_dir / BASE_BUILD, partial, symlinks=True)
                (partial / "micropython").unlink()
                manifest_path = partial / "furrow_manifest.py"
                manifest_path.write_text(manifest)
                try:
                    _make([f"BUILD={build}", f"FROZEN_MANIFEST={manifest_path}", *MAKE_FLAGS], self.port_dir,
                          f"freezing {manifest_path}")
                    binary.parent.mkdir(exist_ok=True)
                    os.replace(partial / "micropython", binary)
                finally:
                    shutil.rmtree(partial, ignore_errors=True)
            self._prune()
        return binary

    def board_binary(self, node_manifest: Path | None = None) -> Path:
        """The port with the board stand-ins (tests/unixboard.py) frozen in, as a board's `machine` is
        built into its firmware, and with a node's frozen image when `node_manifest` is given."""
        manifest = f"module({UNIXBOARD.name!r}, base_path={str(UNIXBOARD.parent)!r})\n"
        inputs = [UNIXBOARD]
        if node_manifest is not None:
            manifest += f"include({str(node_manifest)!r})\n"
            inputs += sorted(node_manifest.parent.rglob("*.py"))
        return self.frozen(manifest, inputs)

    def _prune(self) -> None:
        """Keep the FROZEN_KEEP most recently used frozen binaries; remove build folders of the old
        layout (a build folder per frozen binary, 43 MB each) that nobody touched for STALE_S."""
        binaries = sorted((self.home / "frozen").glob("*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in binaries[FROZEN_KEEP:]:
            old.unlink(missing_ok=True)
        now = time.time()
        for old in self.port_dir.glob("build-frozen-*"):
            with contextlib.suppress(OSError):
                if now - old.stat().st_mtime > STALE_S:
                    shutil.rmtree(old, ignore_errors=True)
        for lock in self.home.glob("build-frozen-*.lock"):
            with contextlib.suppress(OSError):
                if now - lock.stat().st_mtime > STALE_S:
                    lock.unlink()

    def compile(self, source: Path, target: Path) -> None:
        """mpy-cross of this same release."""
        result = subprocess.run([str(self.mpy_cross), "-o", str(target), str(source)], capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"mpy-cross refused {source}: {result.stderr or result.stdout}")

    def run(self, args: list[str], heap_kib: int, binary: Path | None = None, path: str = "",
            timeout: float = 120, **popen: Any) -> subprocess.CompletedProcess[str]:
        """Run the port with a fixed heap; MICROPYPATH is `path`."""
        env = dict(os.environ, MICROPYPATH=path)
        cmd = [str(binary or self.binary), "-X", f"heapsize={heap_kib}K", *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              **popen)


def smallest(fits: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """The smallest n in lo..hi for which fits(n) holds, assuming it holds from some n on (bisection);
    None when not even hi fits."""
    if not fits(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


if __name__ == "__main__":
    try:
        print(UnixPort().ensure_built())
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
