"""A certificate authority for tests, made with the openssl command: CAs, server and client certificates."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key (PEM files)."""

    cert: Path
    key: Path


class TestCA:
    """A self-signed EC P-256 CA in `folder` that signs server and client certificates."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        folder.mkdir(parents=True, exist_ok=True)
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}", cwd=folder)
        self.pair = Pair(folder / f"{name}.crt", folder / f"{name}.key")

    @property
    def cert(self) -> Path:
        return self.pair.cert

    def issue(self, cn: str, *, server: bool) -> Pair:
        """A certificate for `cn` signed by this CA: a server one for 127.0.0.1, or a client one."""
        stem = f"{self.name}-{cn}"
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN={cn}", cwd=self.folder)
        ext = self.folder / f"{stem}.ext"
        if server:
            ext.write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        else:
            ext.write_text("extendedKeyUsage=clientAuth\n")
        _openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", str(self.pair.cert), "-CAkey", str(self.pair.key),
                 "-CAcreateserial", "-out", f"{stem}.crt", "-days", "2", "-extfile", ext.name, cwd=self.folder)
        return Pair(self.folder / f"{stem}.crt", self.folder / f"{stem}.key")
