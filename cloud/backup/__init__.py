"""Backups of a whole installation and their restore (`furrow cloud backup`, `furrow cloud restore`).

* `archive`: the tar, its manifest and checksums; `relational`: every table as portable JSON lines
* `readings`: the SQLite readings file or InfluxDB 1.x as line protocol; `keys`: keys sealed with a passphrase
* `service`: `backup` and `restore` of the installation a `Settings` describes
"""

from .archive import ArchiveDamaged, BackupError, Manifest
from .service import Restored, backup, restore

__all__ = ["ArchiveDamaged", "BackupError", "Manifest", "Restored", "backup", "restore"]
