"""Files attached to the CRM's objects: what each is, whose, who brought it and when. The
content itself is in the file store (``crm.files.store``), never in the database."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, Timestamped


class StoredFile(Base, Timestamped):
    __tablename__ = "files"
    __table_args__ = (Index("ix_files_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32))
    """What it is attached to: quote, project, invoice or ticket."""
    object_id: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    """Its file name, as given (a path's folders and control characters taken out)."""
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    """The content's hash: the store keeps each content once, under it."""
    kind: Mapped[str | None] = mapped_column(String(64))
    """What document it is, when someone said (``proof_of_address``)."""
    source: Mapped[str] = mapped_column(String(16), default="upload")
    """upload (through the API or the console), email (an attachment) or rendered."""
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
