"""One backup archive: a tar of parts beside a manifest that names each part with its size and SHA-256.

The parts are written into a staging directory first, then the tar is made with ``manifest.json`` as its
first member, so a reader learns what to expect before the bulk. Reading extracts every member into a staging
directory while hashing it, and only then compares with the manifest: a restore checks everything before it
writes anything, and a damaged archive is named part by part (:class:`ArchiveDamaged`).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

FORMAT = "furrow-backup/1"
MANIFEST = "manifest.json"
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore cannot go on; the message says what and, where it can, what to do."""


class ArchiveDamaged(BackupError):
    """The archive does not hold what its manifest says: each problem names the part."""

    def __init__(self, archive: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{archive}: the archive is damaged, nothing was restored: " + "; ".join(problems))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Manifest:
    """What an archive holds: its format, the Furrow and schema versions it was made with, where it came from,
    and each part (path inside the archive, bytes, SHA-256, and what it is)."""

    furrow_version: str
    schema_revision: str | None
    created_ms: int
    source: dict[str, Any]
    parts: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "furrow_version": self.furrow_version, "schema_revision": self.schema_revision,
                "created_ms": self.created_ms, "source": self.source, "parts": self.parts, **self.extra}

    @classmethod
    def from_dict(cls, data: Any, archive: Path) -> Manifest:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise BackupError(f"{archive}: {MANIFEST} says format {got!r}; this Furrow reads {FORMAT!r}")
        known = {"format", "furrow_version", "schema_revision", "created_ms", "source", "parts"}
        try:
            return cls(data["furrow_version"], data["schema_revision"], int(data["created_ms"]), dict(data["source"]),
                       list(data["parts"]), {k: v for k, v in data.items() if k not in known})
        except (KeyError, TypeError, ValueError) as e:
            raise BackupError(f"{archive}: {MANIFEST} lacks or garbles {e}") from None

    def part(self, path: str) -> dict[str, Any] | None:
        return next((p for p in self.parts if p["path"] == path), None)


class Staging:
    """The parts of an archive being made, in `root`; `add` records one part's checksum once it is written."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        out = self.root / name
        out.parent.mkdir(parents=True, exist_ok=True)
        return out

    def add(self, manifest: Manifest, name: str, kind: str, **about: Any) -> dict[str, Any]:
        path = self.root / name
        part = {"path": name, "kind": kind, "bytes": path.stat().st_size, "sha256": sha256_file(path), **about}
        manifest.parts.append(part)
        return part


def write_archive(out: Path, staging: Staging, manifest: Manifest) -> None:
    """The tar at `out` (through a temporary name, renamed when complete): the manifest, then every part."""
    tmp = out.with_name(out.name + ".partial")
    body = json.dumps(manifest.as_dict(), indent=1, sort_keys=True).encode()
    (staging.root / MANIFEST).write_bytes(body)
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(staging.root / MANIFEST, arcname=MANIFEST, recursive=False)
        for part in manifest.parts:
            tar.add(staging.root / part["path"], arcname=part["path"], recursive=False)
    tmp.replace(out)


def read_archive(archive: Path, into: Path) -> Manifest:
    """Extract `archive` into `into` and check every part against the manifest. Raises BackupError when the
    file is no Furrow backup, ArchiveDamaged naming each part that is missing, short, altered or unexpected."""
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file")
    problems: list[str] = []
    try:
        with tarfile.open(archive, "r:") as tar:
            names = []
            for member in tar:
                name = member.name
                pure = PurePosixPath(name)
                if not member.isfile() or pure.is_absolute() or ".." in pure.parts:
                    problems.append(f"{name}: not a plain file inside the archive (refused)")
                    continue
                names.append(name)
                src = tar.extractfile(member)
                assert src is not None
                dest = into / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                with src, open(dest, "wb") as f:
                    while chunk := src.read(CHUNK):
                        f.write(chunk)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise BackupError(f"{archive}: not a readable tar archive ({e}); it is cut short or not a Furrow "
                          "backup") from None
    if MANIFEST not in names:
        raise BackupError(f"{archive}: no {MANIFEST} in it: not a Furrow backup")
    try:
        manifest = Manifest.from_dict(json.loads((into / MANIFEST).read_bytes()), archive)
    except ValueError as e:
        raise BackupError(f"{archive}: {MANIFEST} is not JSON ({e}): the archive is damaged") from None
    listed = {p["path"] for p in manifest.parts}
    for part in manifest.parts:
        path = into / part["path"]
        if part["path"] not in names:
            problems.append(f"{part['path']}: missing (the manifest lists it, {part['bytes']} bytes)")
            continue
        size = path.stat().st_size
        if size != part["bytes"]:
            problems.append(f"{part['path']}: {size} bytes, the manifest says {part['bytes']}")
            continue
        digest = sha256_file(path)
        if digest != part["sha256"]:
            problems.append(f"{part['path']}: SHA-256 {digest[:16]}..., the manifest says {part['sha256'][:16]}...")
    problems += [f"{n}: not in the manifest" for n in names if n != MANIFEST and n not in listed]
    if problems:
        raise ArchiveDamaged(archive, problems)
    return manifest
