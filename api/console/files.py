"""Files in the console: each case page that carries them lists its files (PDFs and images
previewed, every file downloadable) with a form to add one; the files come through the API
as the signed-in user, so who may read the object may read them, and nobody else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from api.console.backend import Refused
from api.console.forms import csrf_ok, refused_csrf
from api.console.invoices import invoice_page
from api.console.pages import PageDep, project_page, quote_page
from api.console.tickets import ticket_page
from api.console.views import Said
from api.lookups import ObjectId

router = APIRouter(prefix="/console", include_in_schema=False)
PAGES: dict[str, Callable[..., Awaitable[Response]]] = {
    "quotes": quote_page, "projects": project_page, "invoices": invoice_page,
    "tickets": ticket_page}
"""The case pages that carry files, by the API's path."""
@router.get("/files/{file_id}")
async def file_content(page: PageDep, file_id: ObjectId) -> Response:
    """The file, shown in the browser where it can be (PDFs, images), else downloaded."""
    answer = await page.backend.fetch(f"/files/{file_id}")
    return Response(answer.content, media_type=answer.headers["content-type"], headers={
        name: answer.headers[name] for name in ("content-disposition", "etag",
                                                "x-content-type-options")})


@router.get("/quotes/{quote_id}/document")
async def quote_document(page: PageDep, quote_id: ObjectId) -> Response:
    """The quote's PDF as it would be sent now."""
    answer = await page.backend.fetch(f"/quotes/{quote_id}/document")
    return Response(answer.content, media_type="application/pdf", headers={
        "content-disposition": answer.headers["content-disposition"]})


@router.post("/{plural}/{object_id}/files")
async def add_file(request: Request, page: PageDep, plural: str, object_id: ObjectId
                   ) -> Response:
    """The form's file, to the API; back to the case page saying what happened."""
    case_page = PAGES.get(plural)
    if case_page is None:
        return Response(status_code=404)
    form = await request.form()
    if not csrf_ok(page, {"csrf": str(form.get("csrf", ""))}):
        return refused_csrf()
    upload, kind = form.get("file"), str(form.get("kind", "")).strip() or None
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await case_page(page, object_id, Said("refused", "file: choose a file"), 422)
    milestone = str(form.get("milestone", "")).strip()
    on = (f"/{plural}/{object_id}/milestones/{milestone}" if plural == "projects"
          and milestone.isdigit() else f"/{plural}/{object_id}")
    try:
        await page.backend.attach(f"{on}/files", upload.filename, await upload.read(),
                                  upload.content_type or "", kind)
    except Refused as refusal:
        return await case_page(page, object_id, Said("refused", refusal.detail),
                               refusal.status)
    return RedirectResponse(f"/console/{plural}/{object_id}?done=file", status_code=303)
