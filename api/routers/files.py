"""Files on the objects that carry them — quotes, projects, invoices, tickets: upload
(multipart, one file per request), list, download. A file is read as its object is: whoever
may read the object may read its files, nobody else (403, as for the object)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote as url_quoted

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile, status

from api.access import READS, granted
from api.deps import CurrentUser, SessionDep, StateDep
from api.inputs import Id
from api.lookups import invoice_in_path, project_in_path, quote_in_path, ticket_in_path
from api.schemas import Out
from crm.models import Invoice, Project, Quote, Ticket
from crm.repo import files

router = APIRouter(tags=["files"])
CARRIERS: dict[str, tuple[str, type, Callable[..., Awaitable[Any]]]] = {
    "quotes": ("quote", Quote, quote_in_path),
    "projects": ("project", Project, project_in_path),
    "invoices": ("invoice", Invoice, invoice_in_path),
    "tickets": ("ticket", Ticket, ticket_in_path),
}
"""For each path the objects that carry files, the object type, its model and its lookup."""
MODELS = {object_type: model for object_type, model, _ in CARRIERS.values()}
SHOWN_INLINE = ("application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp")
Kind = Annotated[str | None, Form(max_length=64, pattern=r"^[a-z][a-z0-9_]*$",
                                  description="What document it is: proof_of_address")]


class FileOut(Out):
    id: int
    object_type: str
    object_id: int
    name: str
    content_type: str
    size: int
    sha256: str
    kind: str | None
    source: str
    uploaded_by_id: int | None
    created_at: datetime
    url: str


def _out(row: Any) -> FileOut:
    return FileOut.model_validate({**{c: getattr(row, c) for c in FileOut.model_fields
                                      if c != "url"}, "url": f"/files/{row.id}"})


def _carrier(plural: str, object_type: str, lookup: Callable[..., Awaitable[Any]]) -> None:
    async def upload(session: SessionDep, state: StateDep, user: CurrentUser,
                     file: Annotated[UploadFile, File(description="The file (one per request)")],
                     carrier: Any = Depends(lookup), kind: Kind = None) -> FileOut:
        limit = state.settings.file_max_bytes
        content = await file.read(limit + 1)
        row = await files.attach(session=session, store=state.files, settings=state.settings,
                                 object_type=object_type, object_id=carrier.id,
                                 name=file.filename, declared_type=file.content_type,
                                 content=content, by_id=user.id, kind=kind)
        out = _out(row)
        await session.commit()
        return out

    async def listing(session: SessionDep, carrier: Any = Depends(lookup)) -> list[FileOut]:
        return [_out(row) for row in await files.files_of(
            session=session, object_type=object_type, object_id=carrier.id)]

    path = f"/{plural}/{{{object_type}_id}}/files"
    upload.__name__, listing.__name__ = f"attach_to_{object_type}", f"files_of_{object_type}"
    router.add_api_route(path, upload, methods=["POST"], status_code=status.HTTP_201_CREATED,
                         response_model=FileOut,
                         summary=f"Attach a file to a {object_type} (multipart/form-data)",
                         responses={413: {"description": "larger than CRMFLOW_FILE_MAX_BYTES"},
                                    415: {"description": "a kind CRMFLOW_FILE_TYPES does not "
                                                         "allow, or not what it says it is"}})
    router.add_api_route(path, listing, methods=["GET"], response_model=list[FileOut],
                         summary=f"The files of a {object_type}, oldest first")


for _plural, (_type, _, _lookup) in CARRIERS.items():
    _carrier(_plural, _type, _lookup)


@router.get("/files/{file_id}", summary="A file's content, read as its object is",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
async def download(file_id: Id, session: SessionDep, state: StateDep,
                   user: CurrentUser) -> Response:
    row = await files.get(session=session, file_id=file_id)
    grant = granted(user, READS[row.object_type])
    await grant.check(session, MODELS[row.object_type], row.object_id,
                      f"{row.object_type} {row.object_id}")
    content = await state.files.get(row.sha256)
    shown = "inline" if row.content_type in SHOWN_INLINE else "attachment"
    return Response(content, media_type=row.content_type, headers={
        "Content-Disposition": f"{shown}; filename*=UTF-8''{url_quoted(row.name)}",
        "ETag": f'"{row.sha256}"', "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600"})
