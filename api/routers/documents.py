"""Documents before they are sent: a quote's PDF as its email would carry it now."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import PoliciesDep, SessionDep, StateDep
from api.lookups import QuoteDep
from crm.documents.preview import quote_preview

router = APIRouter(tags=["files"])


@router.get("/quotes/{quote_id}/document", response_class=Response,
            summary="The quote's PDF as it would be sent now (a preview: nothing is kept)",
            responses={200: {"content": {"application/pdf": {}}},
                       409: {"description": "the quote has no contact yet"}})
async def quote_document(quote: QuoteDep, session: SessionDep, state: StateDep,
                         policies: PoliciesDep) -> Response:
    content = await quote_preview(session, quote, policies.quote_approval.quote_validity,
                                  state.settings.document_templates)
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": f"inline; filename*=UTF-8''quote-{quote.id}-preview.pdf",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
