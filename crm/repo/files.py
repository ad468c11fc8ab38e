"""The files attached to an object: kept in the store first, then recorded, so a file the
database lists is always in the store (a content stored for a change that failed is kept,
unlisted, and stored once again for nothing if it comes back)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FileRefused, NotFound
from crm.files.kinds import accepted, safe_name
from crm.files.store import Store, digest_of
from crm.mail_in import Attachment
from crm.models import StoredFile
from crm.settings import Settings

RENDERED = "rendered"


async def attach(*, session: AsyncSession, store: Store, settings: Settings, object_type: str,
                 object_id: int, name: str | None, declared_type: str | None, content: bytes,
                 by_id: int | None, kind: str | None = None,
                 source: str = "upload") -> StoredFile:
    """The file, checked (size, type), stored and recorded on the object. A document the
    CRM rendered itself is its declared type, whatever the limits on what people send."""
    content_type = (declared_type or "application/pdf" if source == RENDERED else
                    accepted(content, declared_type, settings.file_types, settings.file_max_bytes))
    digest = digest_of(content)
    await store.put(digest, content)
    row = StoredFile(object_type=object_type, object_id=object_id, name=safe_name(name),
                     content_type=content_type, size=len(content), sha256=digest, kind=kind,
                     source=source, uploaded_by_id=by_id)
    session.add(row)
    await session.flush()
    return row


async def attach_mailed(*, session: AsyncSession, store: Store, settings: Settings,
                        object_type: str, object_id: int, attachments: list[Attachment],
                        kind: str | None = None) -> tuple[list[StoredFile], list[dict[str, str]]]:
    """An email's attachments on the object (each as ``kind``, when the object waits for a
    document of that kind), and those the CRM does not keep (too large, of a kind not kept),
    left out and said: the email is taken all the same."""
    kept, refused = [], []
    for mailed in attachments:
        try:
            kept.append(await attach(
                session=session, store=store, settings=settings, object_type=object_type,
                object_id=object_id, name=mailed.name, declared_type=mailed.content_type,
                content=mailed.content, by_id=None, kind=kind, source="email"))
        except FileRefused as refusal:
            refused.append({"name": safe_name(mailed.name), "reason": refusal.detail})
    return kept, refused


async def files_of(*, session: AsyncSession, object_type: str,
                   object_id: int) -> list[StoredFile]:
    """The object's files, oldest first."""
    return list(await session.scalars(
        select(StoredFile).where(StoredFile.object_type == object_type,
                                 StoredFile.object_id == object_id)
        .order_by(StoredFile.created_at, StoredFile.id)))


async def carries(*, session: AsyncSession, object_type: str, object_id: int,
                  kind: str) -> bool:
    """Whether the object carries a file of this kind."""
    return bool(await session.scalar(select(StoredFile.id).where(
        StoredFile.object_type == object_type, StoredFile.object_id == object_id,
        StoredFile.kind == kind).limit(1)))


async def rendered(*, session: AsyncSession, object_type: str, object_id: int,
                   name: str) -> StoredFile | None:
    """The document of this name the CRM rendered for the object, if it did."""
    found: StoredFile | None = await session.scalar(select(StoredFile).where(
        StoredFile.object_type == object_type, StoredFile.object_id == object_id,
        StoredFile.name == name, StoredFile.source == RENDERED).limit(1))
    return found


async def get(*, session: AsyncSession, file_id: int) -> StoredFile:
    row = await session.get(StoredFile, file_id)
    if row is None:
        raise NotFound("file", file_id)
    return row
