"""Files on the objects that carry them — quotes, projects and their milestones, invoices,
tickets: upload
(multipart, one file per request), list, download. A file is read as its object is: whoever
may read the object may read its files, nobody else (403, as for the object)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote as url_quoted

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile, status

from api import processes
from api.access import READS, granted
from api.deps import CurrentUser, SessionDep, StateDep
from api.inputs import DOCUMENT_KIND, Id
from api.lookups import (
    invoice_in_path,
    milestone_in_path,
    project_in_path,
    quote_in_path,
    ticket_in_path,
)
from api.schemas import Out
from crm.errors import Conflict, ServiceUnavailable
from crm.models import Invoice, Milestone, Project, Quote, Ticket
from crm.own import enrolments
from crm.own.reading import CARRYING_DOCUMENTS
from crm.repo import files
from workflows.own.validation import DOCUMENT
from workflows.registry import SUPPORT_TICKET
from workflows.support_ticket import SupportTicket
from workflows.support_types import ArrivedDocument, DocumentArrival

router = APIRouter(tags=["files"])
CARRIERS: dict[str, tuple[str, Callable[..., Awaitable[Any]]]] = {
    "/quotes/{quote_id}": ("quote", quote_in_path),
    "/projects/{project_id}": ("project", project_in_path),
    "/projects/{project_id}/milestones/{milestone_id}": ("milestone", milestone_in_path),
    "/invoices/{invoice_id}": ("invoice", invoice_in_path),
    "/tickets/{ticket_id}": ("ticket", ticket_in_path),
}
"""For each object that carries files, its path, its type and its lookup."""
READ_AS: dict[str, tuple[str, type]] = {"quote": ("quote", Quote),
                                        "project": ("project", Project),
                                        "milestone": ("project", Project),
                                        "invoice": ("invoice", Invoice),
                                        "ticket": ("ticket", Ticket)}
"""Whose rule a file is read by: its object's (a milestone's, its project's)."""
SHOWN_INLINE = ("application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp")
Kind = Annotated[str | None, Form(max_length=64, pattern=DOCUMENT_KIND,
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


def _carrier(prefix: str, object_type: str, lookup: Callable[..., Awaitable[Any]]) -> None:
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
        if kind is not None:
            await told(session, state, out, user.role)
        return out

    async def listing(session: SessionDep, carrier: Any = Depends(lookup)) -> list[FileOut]:
        return [_out(row) for row in await files.files_of(
            session=session, object_type=object_type, object_id=carrier.id)]

    path = f"{prefix}/files"
    upload.__name__, listing.__name__ = f"attach_to_{object_type}", f"files_of_{object_type}"
    router.add_api_route(path, upload, methods=["POST"], status_code=status.HTTP_201_CREATED,
                         response_model=FileOut,
                         summary=f"Attach a file to a {object_type} (multipart/form-data)",
                         responses={413: {"description": "larger than CRMFLOW_FILE_MAX_BYTES"},
                                    415: {"description": "a kind CRMFLOW_FILE_TYPES does not "
                                                         "allow, or not what it says it is"}})
    router.add_api_route(path, listing, methods=["GET"], response_model=list[FileOut],
                         summary=f"The files of a {object_type}, oldest first")


async def told(session: SessionDep, state: StateDep, kept: FileOut, by_role: str) -> None:
    """A document (a file of a kind) is told to its object's processes: its enrolments in
    workflows of your own hear ``document:<kind>``, a ticket's process the document (the
    one it waits for resumes it). The file is kept whether or not they could be told."""
    if kept.object_type not in CARRYING_DOCUMENTS:
        return  # a milestone's: no process hears of it
    client = await state.temporal.client()
    await enrolments.after_change(session, client, state.settings, kept.object_type,
                                  kept.object_id, [], event=f"{DOCUMENT}{kept.kind}")
    if kept.object_type != "ticket":
        return
    handle = client.get_workflow_handle(SUPPORT_TICKET.workflow_id(kept.object_id))
    arrival = DocumentArrival(ArrivedDocument(kept.id, kept.name, kept.kind), by_role)
    # The file is kept whatever the process answers: ended (Conflict), or slow or away
    # (ServiceUnavailable: an accepted update is applied; a refused call is logged).
    with contextlib.suppress(Conflict, ServiceUnavailable):
        await processes.decide(state.settings, handle, SupportTicket.document_arrived, arrival,
                               update_id=f"file-{kept.id}",
                               when_ended=lambda: Conflict("the ticket's process has ended"))


for _prefix, (_type, _lookup) in CARRIERS.items():
    _carrier(_prefix, _type, _lookup)


@router.get("/files/{file_id}", summary="A file's content, read as its object is",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
async def download(file_id: Id, session: SessionDep, state: StateDep,
                   user: CurrentUser) -> Response:
    row = await files.get(session=session, file_id=file_id)
    read_as, model = READ_AS[row.object_type]
    object_id = row.object_id
    if row.object_type == "milestone":
        milestone = await session.get(Milestone, object_id)
        assert milestone is not None, f"milestone {object_id} of file {file_id}"
        object_id = milestone.project_id
    await granted(user, READS[read_as]).check(session, model, object_id,
                                              f"{read_as} {object_id}")
    content = await state.files.get(row.sha256)
    shown = "inline" if row.content_type in SHOWN_INLINE else "attachment"
    return Response(content, media_type=row.content_type, headers={
        "Content-Disposition": f"{shown}; filename*=UTF-8''{url_quoted(row.name)}",
        "ETag": f'"{row.sha256}"', "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600"})
