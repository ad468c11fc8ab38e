"""Where files' contents are kept: behind one small interface, a local folder by default
(``.crmflow/files``). Each content is kept once, under its SHA-256, and never changed: the
same content attached twice is stored once, and a file's bytes are what was received."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class Store(Protocol):
    async def put(self, digest: str, content: bytes) -> None:
        """Keep the content under its digest (nothing happens when it is kept already)."""

    async def get(self, digest: str) -> bytes:
        """The content kept under the digest; FileNotFoundError when there is none."""


def digest_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class LocalStore:
    """A folder: ``ab/abcdef…`` for the content whose SHA-256 is ``abcdef…``, written to a
    temporary file first and renamed, so a reader never sees half of one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a SHA-256 digest: {digest!r}")
        return self.folder / digest[:2] / digest

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
