"""Where image bytes live: a directory by default, any S3-compatible store by configuration.

Both stores take and give whole objects under a key (``<node>/<seq>.jpg``,
``<node>/<seq>.thumb.jpg``). They are synchronous; the image service calls
them in a worker thread.

* `FileObjects` writes ``<root>/<key>`` through a temporary file, fsync and
  rename, so a crash leaves the old object or the new one, never half.
* `S3Objects` uses boto3 against AWS S3 or any server that speaks its API
  (SeaweedFS, MinIO, Ceph RGW, Garage), with path-style addressing so a
  bucket name need not be a DNS name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from ..storage import StorageUnavailable


class ObjectsUnavailable(StorageUnavailable):
    """The object store cannot be reached or refused the request for now: the image is kept by its sender
    (the MQTT worker holds it unacknowledged, HTTPS answers 503) and tried again later."""

    def __init__(self, reason: str) -> None:
        super().__init__("objects", reason)


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes:
        """The object's bytes; KeyError when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; none is no error."""
        ...


class FileObjects:
    """Objects as files under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"object key {key!r} leaves the store")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Objects:
    """Objects in bucket `bucket` of an S3-compatible server."""

    def __init__(self, bucket: str, *, endpoint_url: str | None, access_key: str | None, secret_key: str | None,
                 region: str = "us-east-1", client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
                          connect_timeout=5, read_timeout=30))

    def _call(self, fn: Any, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kw)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise KeyError(kw.get("Key")) from None
            raise ObjectsUnavailable(f"S3 {code or 'error'}: {e}") from None
        except BotoCoreError as e:
            raise ObjectsUnavailable(f"S3 unreachable: {e}") from None

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._call(self.client.create_bucket)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._call(self.client.put_object, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        return self._call(self.client.get_object, Key=key)["Body"].read()

    def delete(self, key: str) -> None:
        self._call(self.client.delete_object, Key=key)
