"""The service's keys in a backup, encrypted with a passphrase.

What is kept: every file of the command signing key directory (``<kid>.key`` and ``<kid>.pub``: the key the
production records' heads and the irrigation commands are signed with, and the public halves of retired
keys that older heads still verify against), the node key file, and the secret key API tokens are hashed
with (without it every issued token stops working).

The bundle is JSON {name: base64 bytes} sealed with AES-256-GCM under a key derived from the passphrase with
scrypt (n = 2**15, r = 8, p = 1, a random 16-byte salt); the header with the salt, nonce and parameters is the
GCM's associated data, so a changed header fails like a wrong passphrase.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .archive import BackupError

MAGIC = b"FURROW-KEYS/1\n"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
MIN_PASSPHRASE = 12
SIGNING = "signing/"
NODE_KEYS = "node_keys.json"
SECRET_KEY = "secret_key"


def _key(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(passphrase.encode())


def seal(files: dict[str, bytes], passphrase: str) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the backup passphrase has {len(passphrase)} characters: use at least {MIN_PASSPHRASE}")
    salt, nonce = os.urandom(16), os.urandom(12)
    header = json.dumps({"kdf": "scrypt", **SCRYPT, "salt": salt.hex(), "cipher": "AES-256-GCM",
                         "nonce": nonce.hex()}, sort_keys=True).encode()
    body = json.dumps({k: base64.b64encode(v).decode() for k, v in sorted(files.items())}).encode()
    return MAGIC + header + b"\n" + AESGCM(_key(passphrase, salt, SCRYPT)).encrypt(nonce, body, header)


def open_sealed(data: bytes, passphrase: str, name: str) -> dict[str, bytes]:
    if not data.startswith(MAGIC) or b"\n" not in data[len(MAGIC):]:
        raise BackupError(f"{name}: not a Furrow key bundle")
    header, _, sealed = data[len(MAGIC):].partition(b"\n")
    try:
        about = json.loads(header)
        key = _key(passphrase, bytes.fromhex(about["salt"]), {k: int(about[k]) for k in ("n", "r", "p")})
        body = AESGCM(key).decrypt(bytes.fromhex(about["nonce"]), sealed, header)
    except InvalidTag:
        raise BackupError(f"{name}: the passphrase does not open it (a wrong passphrase, or the keys were "
                          "altered)") from None
    except (ValueError, KeyError) as e:
        raise BackupError(f"{name}: its header is damaged ({e})") from None
    return {k: base64.b64decode(v) for k, v in json.loads(body).items()}


def gather(settings: Any) -> dict[str, bytes]:
    """The key files of the installation `settings` describe, by their name in the bundle."""
    files: dict[str, bytes] = {}
    directory = _signing_dir(settings)
    if directory is not None and directory.is_dir():
        for path in sorted(directory.iterdir()):
            if path.is_file() and path.suffix in (".key", ".pub"):
                files[SIGNING + path.name] = path.read_bytes()
    if settings.command_node_keys_file is not None and Path(settings.command_node_keys_file).is_file():
        files[NODE_KEYS] = Path(settings.command_node_keys_file).read_bytes()
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        files[SECRET_KEY] = settings.secret_key.get_secret_value().encode()
    return files


def _signing_dir(settings: Any) -> Path | None:
    if settings.command_signing_keys_dir is not None:
        return Path(settings.command_signing_keys_dir)
    if settings.demo_mode:
        return Path(settings.data_dir) / "command-keys"  # as signer_from_settings makes it
    return None


def occupied(settings: Any) -> list[str]:
    """The key files the target already has (which a restore would overwrite)."""
    out = []
    directory = _signing_dir(settings)
    if directory is not None and directory.is_dir():
        out += [str(p) for p in sorted(directory.iterdir()) if p.suffix in (".key", ".pub")]
    if settings.command_node_keys_file is not None and Path(settings.command_node_keys_file).is_file():
        out.append(str(settings.command_node_keys_file))
    return out


def place(settings: Any, files: dict[str, bytes]) -> list[str]:
    """Write the bundle's keys where the target's settings keep them; what was done, one line each."""
    said = []
    signing = {k[len(SIGNING):]: v for k, v in files.items() if k.startswith(SIGNING)}
    if signing:
        directory = _signing_dir(settings)
        if directory is None:
            raise BackupError(f"the archive has {len(signing)} signing key file(s): set "
                              "FURROW_COMMAND_SIGNING_KEYS_DIR to where they go")
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in signing.items():
            _write(directory / name, data, 0o600 if name.endswith(".key") else 0o644)
        said.append(f"keys: {len(signing)} signing key file(s) in {directory}")
    if NODE_KEYS in files:
        if settings.command_node_keys_file is None:
            raise BackupError("the archive has node keys: set FURROW_COMMAND_NODE_KEYS_FILE to where they go")
        _write(Path(settings.command_node_keys_file), files[NODE_KEYS], 0o600)
        said.append(f"keys: node keys in {settings.command_node_keys_file}")
    if SECRET_KEY in files:
        current = settings.secret_key.get_secret_value().encode() if settings.secret_key is not None else b""
        if current == files[SECRET_KEY]:
            said.append("keys: the secret key API tokens are hashed with is the one this installation has")
        else:
            path = Path(settings.data_dir) / "secret_key.restored"
            _write(path, files[SECRET_KEY], 0o600)
            said.append(f"keys: the backed-up secret key is in {path}; set FURROW_SECRET_KEY_FILE={path} (and unset "
                        "FURROW_SECRET_KEY) or the API tokens issued before the backup will not be accepted")
    return said


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".restoring")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    tmp.replace(path)
