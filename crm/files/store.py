"""Where files' contents are kept: behind one small interface, a local folder by default
(``.crmflow/files``), or an S3-compatible bucket (``CRMFLOW_FILE_STORE=s3``). Each content
is kept once, under its SHA-256, and never changed: the same content attached twice is
stored once, and a file's bytes are what was received."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from crm.settings import Settings


class Store(Protocol):
    async def put(self, digest: str, content: bytes) -> None:
        """Keep the content under its digest (nothing happens when it is kept already)."""

    async def get(self, digest: str) -> bytes:
        """The content kept under the digest; FileNotFoundError when there is none."""


def digest_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def key_of(digest: str) -> str:
    """Where a content is kept in a store: ``ab/abcdef…``."""
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a SHA-256 digest: {digest!r}")
    return f"{digest[:2]}/{digest}"


def store_for(settings: Settings) -> Store:
    """The store the settings name."""
    if settings.file_store == "s3":
        return S3Store(settings)
    return LocalStore(settings.file_store_dir)


class LocalStore:
    """A folder: ``ab/abcdef…`` for the content whose SHA-256 is ``abcdef…``, written to a
    temporary file first and renamed, so a reader never sees half of one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, digest: str) -> Path:
        return self.folder / key_of(digest)

    async def put(self, digest: str, content: bytes) -> None:
        await asyncio.to_thread(self._write, self._path(digest), content)

    async def get(self, digest: str) -> bytes:
        return await asyncio.to_thread(self._path(digest).read_bytes)

    @staticmethod
    def _write(path: Path, content: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as partial:
            partial.write(content)
            partial.flush()
            os.fsync(partial.fileno())
        os.replace(partial.name, path)


class S3Store:
    """A bucket of an S3-compatible service (``CRMFLOW_S3_BUCKET``, at
    ``CRMFLOW_S3_ENDPOINT_URL`` or AWS's), through boto3: credentials as boto3 finds them
    (``AWS_ACCESS_KEY_ID``… or the instance's role) unless the settings give them. Its calls
    run in a thread, as boto3 blocks."""

    def __init__(self, settings: Settings) -> None:
        import boto3  # only a deployment on S3 loads it

        if not settings.s3_bucket:
            raise ValueError("CRMFLOW_FILE_STORE=s3 needs CRMFLOW_S3_BUCKET")
        secret = settings.s3_secret_access_key
        self.bucket, self.prefix = settings.s3_bucket, settings.s3_prefix
        self.client: Any = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None)

    def _key(self, digest: str) -> str:
        return f"{self.prefix}{key_of(digest)}"

    async def put(self, digest: str, content: bytes) -> None:
        key = self._key(digest)
        if not await asyncio.to_thread(self._has, key):
            await asyncio.to_thread(self.client.put_object, Bucket=self.bucket, Key=key,
                                    Body=content, ContentLength=len(content))

    async def get(self, digest: str) -> bytes:
        return await asyncio.to_thread(self._read, self._key(digest))

    def _has(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _read(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey as error:
            raise FileNotFoundError(f"s3://{self.bucket}/{key}") from error
        content: bytes = answer["Body"].read()
        return content
