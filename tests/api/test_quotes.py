"""Quotes through the API: drafting, the submission gate, locking, approval, sending, winning."""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal
from pathlib import Path

import pypdf
from sqlalchemy import select

from crm import db
from crm.models import Lead, Quote, Sale
from tests import factories
from tests.api.conftest import Api
from tests.api.test_console import signed_in
from tests.waiting import eventually

LINES = [{"description": "CRM licence", "quantity": 10, "unit_price": "100.00"}]


async def qualified_lead(api: Api) -> int:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    return lead.id


async def draft(api: Api, discount: str = "10", lines: list[dict[str, object]] = LINES) -> int:
    lead_id = await qualified_lead(api)
    response = await api.call("POST", "/quotes", "rep",
                              json={"lead_id": lead_id, "lines": lines, "discount_pct": discount})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def quote_row(api: Api, quote_id: int) -> Quote:
    async with db.unit_of_work(api.sessions) as session:
        quote = await session.get(Quote, quote_id)
        assert quote is not None
        return quote


async def test_a_draft_has_lines_and_totals(api: Api) -> None:
    quote_id = await draft(api, "12.5")
    body = (await api.call("GET", f"/quotes/{quote_id}", "manager")).json()
    assert body["status"] == "draft" and body["process_id"] is None
    assert body["totals"] == {"subtotal": "1000.00", "discount": "125.00", "total": "875.00"}
    assert body["lines"][0]["description"] == "CRM licence"


async def test_only_a_qualified_lead_of_ones_own_gets_a_quote(api: Api) -> None:
    lead = await factories.lead(api.sessions, team_id=api.team.rep.team_id)
    response = await api.call("POST", "/quotes", "rep", json={"lead_id": lead.id})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"lead {lead.id} is new: only a qualified lead gets quotes"
    )
    lead_id = await qualified_lead(api)
    response = await api.call("POST", "/quotes", "other_rep", json={"lead_id": lead_id})
    assert response.status_code == 403


async def test_submitting_needs_a_priced_line(api: Api) -> None:
    quote_id = await draft(api, lines=[{"description": "free audit", "quantity": 1,
                                        "unit_price": 0}])
    response = await api.call("POST", f"/quotes/{quote_id}/submit", "rep")
    assert response.status_code == 409
    assert response.json()["missing"] == ["a priced line"]
    row = await quote_row(api, quote_id)
    assert (row.status, row.submission) == ("draft", 0)


async def test_only_the_author_changes_or_submits(api: Api) -> None:
    quote_id = await draft(api)
    for method, url in (("PATCH", f"/quotes/{quote_id}"), ("POST", f"/quotes/{quote_id}/submit")):
        response = await api.call(method, url, "other_rep", json={"discount_pct": 5})
        assert response.status_code == 403
    assert (await quote_row(api, quote_id)).discount_pct == Decimal("10.00")


async def test_small_discount_validated_sent_and_won(api: Api) -> None:
    quote_id = await draft(api, "10")
    submitted = await api.call("POST", f"/quotes/{quote_id}/submit", "rep")
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    assert (body["status"], body["submission"], body["process_id"]) == (
        "validated", 1, f"quote-{quote_id}"
    )
    assert [h["to_status"] for h in body["history"]] == ["submitted", "validated"]
    assert body["history"][0]["actor"] == f"user:{api.team.rep.id}"

    sent = await api.call("POST", f"/quotes/{quote_id}/send", "rep")
    assert sent.status_code == 200 and sent.json()["status"] == "sent"
    assert sent.json()["valid_until"] is not None
    [mail] = await eventually(lambda: api.mail.to("jane@acme.example"))  # follows the answer
    assert mail.subject == f"Your quote {quote_id} from Alice"
    # It carries the quote as a PDF, rendered from what was submitted, kept on the quote.
    [(name, kind, document)] = mail.attachments
    assert (name, kind) == (f"quote-{quote_id}-1.pdf", "application/pdf")
    text = " ".join(pypdf.PdfReader(io.BytesIO(document)).pages[0].extract_text().split())
    valid_until = sent.json()["valid_until"][:10]
    for said in (f"Quote {quote_id}-1", "For: Acme, attention of Jane Buyer", "From: Alice",
                 f"Valid until: {valid_until}", "CRM licence 10 100.00 1,000.00 EUR",
                 "Subtotal 1,000.00 EUR", "Discount 10 % \N{MINUS SIGN}100.00 EUR",
                 "Total 900.00 EUR"):
        assert said in text, (said, text)
    kept = (await api.call("GET", f"/quotes/{quote_id}/files", "rep")).json()
    assert [(f["name"], f["kind"], f["source"], f["sha256"]) for f in kept] == [
        (name, "quote", "rendered", hashlib.sha256(document).hexdigest())]

    won = await api.call("POST", f"/quotes/{quote_id}/customer-response", "website",
                         json={"accepted": True, "note": "signed"})
    assert won.status_code == 200 and won.json()["status"] == "won"
    async with db.unit_of_work(api.sessions) as session:
        sale = await session.scalar(select(Sale).where(Sale.quote_id == quote_id))
        assert sale is not None and sale.amount == Decimal("900.00")

    async def lead_won() -> bool:
        async with db.unit_of_work(api.sessions) as session:
            lead = await session.get(Lead, sale.lead_id)
            return lead is not None and lead.status == "won"

    await eventually(lead_won)


async def test_big_discount_locks_the_quote_until_a_manager_decides(api: Api) -> None:
    quote_id = await draft(api, "25")
    body = (await api.call("POST", f"/quotes/{quote_id}/submit", "rep")).json()
    assert body["status"] == "pending_approval"

    locked = await api.call("PATCH", f"/quotes/{quote_id}", "rep", json={"discount_pct": 15})
    assert locked.status_code == 409
    assert "locked while it waits for management approval" in locked.json()["detail"]
    assert (await quote_row(api, quote_id)).discount_pct == Decimal("25.00")

    not_yet = await api.call("POST", f"/quotes/{quote_id}/send", "rep")
    assert not_yet.status_code == 409
    assert not_yet.json()["detail"] == (
        f"quote {quote_id} is pending_approval (discount 25 % above the 20 % threshold), so it "
        f"cannot be sent: only a validated quote can be sent")

    own = await api.call("POST", f"/quotes/{quote_id}/decision", "rep",
                         json={"approve": True})
    assert own.status_code == 403
    assert own.json()["detail"] == ("role sales_rep may not POST /quotes/{quote_id}/decision; "
                                    "it needs one of: sales_manager, admin")
    foreign = await api.call("POST", f"/quotes/{quote_id}/decision", "foreign_manager",
                             json={"approve": True})
    assert foreign.status_code == 403
    assert foreign.json()["detail"] == (
        f"quote {quote_id} is not your team's: role sales_manager may "
        "POST /quotes/{quote_id}/decision on their team's only")

    waiting = (await api.call("GET", "/approvals", "manager")).json()
    assert [q["id"] for q in waiting] == [quote_id]
    assert (await api.call("GET", "/approvals", "foreign_manager")).json() == []
    assert (await api.call("GET", "/approvals", "rep")).status_code == 403

    approved = await api.call("POST", f"/quotes/{quote_id}/decision", "manager",
                              json={"approve": True, "comment": "strategic account"})
    assert approved.status_code == 200
    body = approved.json()
    assert (body["status"], body["decided_by_id"], body["decision_comment"]) == (
        "validated", api.team.manager.id, "strategic account"
    )
    twice = await api.call("POST", f"/quotes/{quote_id}/decision", "other_manager",
                           json={"approve": False, "comment": "no"})
    assert twice.status_code == 409
    assert twice.json()["detail"] == (
        f"quote {quote_id} is validated (strategic account), so it cannot be approved or "
        f"rejected: only a quote pending approval can")
    assert (await api.call("GET", "/approvals", "manager")).json() == []


async def test_a_manager_never_decides_on_their_own_quote(api: Api) -> None:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.manager, discount_pct="25")
    submitted = await api.call("POST", f"/quotes/{quote.id}/submit", "manager")
    assert submitted.json()["status"] == "pending_approval", submitted.text
    own = await api.call("POST", f"/quotes/{quote.id}/decision", "manager",
                         json={"approve": True})
    assert own.status_code == 403
    assert own.json()["detail"] == "the author of a quote cannot approve or reject it"
    assert [q["id"] for q in (await api.call("GET", "/approvals", "manager")).json()] == []
    other = await api.call("POST", f"/quotes/{quote.id}/decision", "other_manager",
                           json={"approve": True})
    assert other.json()["status"] == "validated"


async def test_a_rejected_quote_is_changed_and_submitted_again(api: Api) -> None:
    quote_id = await draft(api, "40")
    await api.call("POST", f"/quotes/{quote_id}/submit", "rep")
    no_comment = await api.call("POST", f"/quotes/{quote_id}/decision", "manager",
                                json={"approve": False})
    assert no_comment.status_code == 409
    assert no_comment.json()["missing"] == ["comment"]
    rejected = await api.call("POST", f"/quotes/{quote_id}/decision", "manager",
                              json={"approve": False, "comment": "40 % is too much"})
    assert rejected.json()["status"] == "rejected"
    await eventually(lambda: [m for m in api.mail.to(api.team.rep.email)
                              if m.purpose == "submission_1:decided"])
    # The rejected submission's run ends once the author is told; a new submission made
    # while it is still finishing is a 503 to try again (crm.launcher), not this test's case.
    await api.temporal.get_workflow_handle(f"quote-{quote_id}").result()

    changed = await api.call("PATCH", f"/quotes/{quote_id}", "rep", json={"discount_pct": 18})
    assert changed.status_code == 200
    again = await api.call("POST", f"/quotes/{quote_id}/submit", "rep")
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["submission"]) == ("validated", 2)
    statuses = [h["to_status"] for h in again.json()["history"]]
    assert statuses == ["submitted", "pending_approval", "rejected", "submitted", "validated"]


async def test_decisions_on_a_draft_are_409(api: Api) -> None:
    quote_id = await draft(api)
    response = await api.call("POST", f"/quotes/{quote_id}/decision", "manager",
                              json={"approve": True})
    assert response.status_code == 409
    assert response.json()["detail"] == f"quote {quote_id} is draft: no decision is pending"


async def test_new_policy_applies_to_new_submissions(api: Api, policy_file: Path) -> None:
    policy_file.write_text("[quote_approval]\ndiscount_threshold_pct = 5\n")
    quote_id = await draft(api, "10")
    body = (await api.call("POST", f"/quotes/{quote_id}/submit", "rep")).json()
    assert body["status"] == "pending_approval"
    assert body["history"][-1]["reason"] == "discount 10 % above the 5 % threshold"


async def test_quotes_are_listed_by_status_and_lead(api: Api) -> None:
    draft_id = await draft(api, "10")
    submitted_id = await draft(api, "10")
    await api.call("POST", f"/quotes/{submitted_id}/submit", "rep")
    validated = (await api.call("GET", "/quotes?status=validated", "manager")).json()
    assert [q["id"] for q in validated] == [submitted_id]
    lead_id = (await quote_row(api, draft_id)).lead_id
    of_lead = (await api.call("GET", f"/quotes?lead_id={lead_id}", "rep")).json()
    assert [q["id"] for q in of_lead] == [draft_id]
    assert len((await api.call("GET", "/quotes", "rep")).json()) == 2


async def test_the_quote_s_pdf_is_seen_before_it_is_sent(api: Api) -> None:
    quote_id = await draft(api, "12.5")
    preview = await api.call("GET", f"/quotes/{quote_id}/document", "manager")
    assert preview.status_code == 200, preview.text
    assert preview.headers["content-type"] == "application/pdf"
    text = " ".join(pypdf.PdfReader(io.BytesIO(preview.content)).pages[0].extract_text()
                    .split())
    for said in (f"Quote {quote_id}-0", "CRM licence 10 100.00 1,000.00 EUR",
                 "Discount 12.5 % \N{MINUS SIGN}125.00 EUR", "Total 875.00 EUR"):
        assert said in text, (said, text)
    assert (await api.call("GET", f"/quotes/{quote_id}/files", "rep")).json() == []  # a look
    assert (await api.call("GET", f"/quotes/{quote_id}/document", "foreign_manager")
            ).status_code == 403
    maria = await signed_in(api, "manager")
    page = await maria.get(f"/console/quotes/{quote_id}")
    assert f'href="/console/quotes/{quote_id}/document"' in page.text
    shown = await maria.get(f"/console/quotes/{quote_id}/document")
    assert shown.status_code == 200 and shown.content[:5] == b"%PDF-"
