"""Invoices through the API, on SQLite and PostgreSQL, with the real worker and dev server:
issuing, payments counted once, disputes, promises, write-offs, and a milestone invoice
issued by another process and paid."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from crm import db
from crm.models import Invoice, Payment
from crmflow.mail_sink import MailSink
from tests import factories
from tests.api.conftest import Api, running_api
from tests.faults import TcpProxy
from tests.waiting import eventually
from tests.workflows.invoices import CUSTOMER
from tests.workflows.milestone_invoicing import Invoicing, MilestoneInvoicing

TODAY = datetime.now(UTC).date()


def invoice_body(account_id: int, due: date = TODAY + timedelta(days=20)) -> dict[str, Any]:
    return {"account_id": account_id, "due_date": due.isoformat(), "currency": "EUR",
            "lines": [{"description": "CRM licence", "amount": "600.00"}]}


async def issue(api: Api, **headers: str) -> dict[str, Any]:
    account_id = await factories.customer(api.sessions)
    response = await api.call("POST", "/invoices", "accountant", headers=headers,
                              json=invoice_body(account_id))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def pay(api: Api, invoice_id: int, amount: str, reference: str, who: str = "website"
              ) -> Any:
    return await api.call("POST", f"/invoices/{invoice_id}/payments", who,
                          json={"amount": amount, "reference": reference})


async def count(api: Api, column: Any) -> int:
    async with db.unit_of_work(api.sessions) as session:
        return int(await session.scalar(select(func.count(column))) or 0)


async def test_an_invoice_is_issued_once_and_each_payment_counts_once(api: Api) -> None:
    key = {"Idempotency-Key": "invoice-acme-1"}
    invoice = await issue(api, **key)
    again = await api.call("POST", "/invoices", "accountant", headers=key,
                           json=invoice_body(invoice["account_id"]))
    assert (again.status_code, again.json()) == (201, invoice)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await count(api, Invoice.id) == 1
    invoice_id = invoice["id"]
    assert (invoice["number"], invoice["status"], invoice["balance"], invoice["process_id"]) == (
        "INV-000001", "open", "600.00", f"invoice-{invoice_id}")

    async def planned() -> Any:
        return (await api.call("GET", f"/invoices/{invoice_id}", "accountant")
                ).json()["next_action"]

    next_action = await eventually(planned)
    assert next_action["what"] == "courtesy notice"
    assert next_action["on"].startswith((TODAY + timedelta(days=17)).isoformat())

    first = await pay(api, invoice_id, "200.00", "PSP-1")
    assert first.status_code == 201, first.text
    assert (first.json()["amount"], first.json()["balance_after"]) == ("200.00", "400.00")
    twice = await asyncio.gather(*(pay(api, invoice_id, "100", "PSP-2") for _ in range(5)))
    assert {(a.status_code, a.text) for a in twice} == {(201, twice[0].text)}
    assert twice[0].json()["balance_after"] == "300.00"
    assert await count(api, Payment.id) == 2

    refusals = [
        await pay(api, invoice_id, "300", "PSP-1"),
        await pay(api, invoice_id, "300.01", "PSP-3"),
        await pay(api, invoice_id, "0", "PSP-3"),
        await pay(api, invoice_id, "10", "PSP-3", who="rep"),
    ]
    assert [r.status_code for r in refusals] == [409, 409, 422, 403]
    assert refusals[0].json()["detail"] == (
        f"payment PSP-1 was recorded as 200.00 on invoice {invoice_id}: one reference, one "
        f"payment")
    assert refusals[1].json()["detail"] == (
        f"invoice {invoice_id} has 300.00 EUR open: a payment of 300.01 EUR is more than is "
        f"owed")
    assert refusals[2].json()["errors"][0]["field"] == "amount"

    last = await pay(api, invoice_id, "300.00", "PSP-3", who="accountant")
    assert (last.status_code, last.json()["balance_after"]) == (201, "0.00")
    [thanks] = await eventually(lambda: api.mail.to(CUSTOMER))
    assert thanks.subject == "Thank you: invoice INV-000001 is paid"
    posted_again = await pay(api, invoice_id, "300.00", "PSP-3")  # the process has ended
    assert (posted_again.status_code, posted_again.json()) == (201, last.json())

    paid = (await api.call("GET", f"/invoices/{invoice_id}", "accountant")).json()
    assert (paid["status"], paid["balance"], paid["paid"], paid["next_action"]) == (
        "paid", "0.00", "600.00", None)
    assert [p["reference"] for p in paid["payments"]] == ["PSP-1", "PSP-2", "PSP-3"]
    assert [h["to_status"] for h in paid["history"]] == ["open", "open", "paid"]
    assert [e["purpose"] for e in paid["emails"]] == ["paid"]
    late = await api.call("POST", f"/invoices/{invoice_id}/write-off", "rep",
                          json={"reason": "too late"})
    assert late.status_code == 403  # who may act comes first
    late = await api.call("POST", f"/invoices/{invoice_id}/write-off", "accountant",
                          json={"reason": "too late"})
    assert (late.status_code, late.json()["detail"]) == (
        409, f"invoice {invoice_id} is paid: its dunning has ended, so it cannot be written off")


async def test_a_dispute_a_promise_and_a_write_off_are_decided_by_the_process(api: Api) -> None:
    invoice_id = (await issue(api))["id"]
    url = f"/invoices/{invoice_id}"

    assert (await api.call("POST", f"{url}/dispute", "rep", json={"reason": "x"})
            ).status_code == 403
    disputed = await api.call("POST", f"{url}/dispute", "website",
                              json={"reason": "we ordered 5 licences, not 6"})
    assert (disputed.status_code, disputed.json()["status"]) == (200, "disputed")
    assert disputed.json()["next_action"]["what"] == "the dispute to be resolved"

    async def billing_tickets() -> Any:
        return (await api.call("GET", "/tickets", "admin", params={"queue": "all"})).json()

    [ticket] = await eventually(billing_tickets)  # the dispute opened a ticket with Support
    assert (ticket["category"], ticket["invoice_id"]) == ("billing", invoice_id)
    promised = await api.call("POST", f"{url}/promise", "website",
                              json={"pay_by": (TODAY + timedelta(days=25)).isoformat()})
    assert (promised.status_code, promised.json()["detail"]) == (409, (
        f"invoice {invoice_id} is disputed (disputed: we ordered 5 licences, not 6), so it "
        f"cannot take a promise to pay: only an open, overdue or promised invoice can"))
    assert (await api.call("POST", f"{url}/dispute/resolve", "website",
                           json={"upheld": False, "note": "n"})).status_code == 403

    resolved = await api.call("POST", f"{url}/dispute/resolve", "accountant",
                              json={"upheld": False, "note": "6 were delivered and used"})
    assert (resolved.status_code, resolved.json()["status"]) == (200, "open")
    past = await api.call("POST", f"{url}/promise", "website",
                          json={"pay_by": (TODAY - timedelta(days=1)).isoformat()})
    assert (past.status_code, past.json()["errors"][0]["field"]) == (422, "pay_by")
    pay_by = (TODAY + timedelta(days=25)).isoformat()
    promised = await api.call("POST", f"{url}/promise", "website", json={"pay_by": pay_by})
    assert (promised.status_code, promised.json()["status"], promised.json()["promised_on"]) == (
        200, "promised", pay_by)

    written_off = await api.call("POST", f"{url}/write-off", "accountant",
                                 json={"reason": "goodwill: long-standing customer"})
    assert written_off.status_code == 200, written_off.text
    body = written_off.json()
    assert (body["status"], body["balance"], body["next_action"]) == ("written_off", "600.00",
                                                                      None)
    assert body["closed_at"] is not None
    assert [(h["to_status"], h["reason"]) for h in body["history"]] == [
        ("disputed", "disputed: we ordered 5 licences, not 6"),
        ("open", "dispute rejected: 6 were delivered and used"),
        ("promised", f"promised to pay by {pay_by}"),
        ("written_off", "written off: goodwill: long-standing customer (600.00 EUR open)"),
    ]
    listed = (await api.call("GET", "/invoices?status=written_off", "accountant")).json()
    assert [i["id"] for i in listed] == [invoice_id]
    assert (await api.call("GET", "/invoices?overdue=true", "accountant")).json() == []
    assert (await api.call("GET", "/invoices", "rep")).status_code == 403


async def test_a_new_ladder_applies_to_new_invoices_only(api: Api, policy_file: Path) -> None:
    policy_file.write_text('[dunning]\nlate_fee_amount = 40\nlevels = [\n'
                           '  { offset = "-P5D", actions = ["email"], '
                           'template = "dunning_courtesy" },\n]\n')
    first = (await issue(api))["id"]
    policy_file.write_text('[dunning]\nlevels = [\n'
                           '  { offset = "P2D", actions = ["email", "late_fee"], '
                           'template = "dunning_reminder" },\n]\n')
    second = (await issue(api))["id"]

    shown = (await api.call("GET", "/policies", "rep")).json()["dunning"]
    assert shown["levels"] == [{"offset": "P2D", "actions": ["email", "late_fee"],
                                "template": "dunning_reminder"}]
    assert (shown["late_fee_pct"], shown["late_fee_amount"]) == ("5", None)

    async def planned(invoice_id: int) -> Any:
        return (await api.call("GET", f"/invoices/{invoice_id}", "accountant")
                ).json()["next_action"]

    due = TODAY + timedelta(days=20)
    assert (await eventually(lambda: planned(first)))["on"].startswith(
        (due - timedelta(days=5)).isoformat())
    assert (await eventually(lambda: planned(second)))["what"] == "the due date to pass"


async def test_a_milestone_invoice_issued_by_a_process_is_paid_through_the_api(
    api: Api,
) -> None:
    account_id = await factories.customer(api.sessions)
    projects = f"projects-{uuid.uuid4()}"
    async with Worker(api.temporal, task_queue=projects, workflows=[MilestoneInvoicing]):
        project = await api.temporal.start_workflow(
            MilestoneInvoicing.run, Invoicing(account_id, api.settings.temporal_task_queue),
            id="project-7", task_queue=projects)

        async def issued() -> Any:
            return (await api.call("GET", f"/invoices?account_id={account_id}",
                                   "accountant")).json()

        [invoice] = await eventually(issued)
        assert (invoice["status"], invoice["balance"]) == ("open", "1500.00")
        paid = await pay(api, invoice["id"], "1500.00", "PSP-9")
        assert paid.status_code == 201, paid.text
        invoiced = await project.result()

    assert (invoiced.settled.invoice_id, invoiced.settled.status) == (invoice["id"], "paid")
    assert invoiced.issued == invoiced.issued_again
    assert [m.purpose for m in await eventually(lambda: api.mail.to(CUSTOMER))] == ["paid"]
    detail = (await api.call("GET", f"/invoices/{invoice['id']}", "accountant")).json()
    assert (detail["status"], detail["closed_at"] is not None) == ("paid", True)

    async def found() -> Any:
        return (await api.call("GET", f"/processes?type=invoice_dunning&status=paid"
                                      f"&customer={account_id}", "accountant")).json()

    [process] = await eventually(found)
    assert (process["workflow_id"], process["amount"]) == (f"invoice-{invoice['id']}", 0.0)


async def test_with_temporal_hanging_an_invoice_reads_and_a_payment_retried_counts_once(
    dev_server: WorkflowEnvironment, database_url: str, mail_sink: tuple[MailSink, int],
    tmp_path: Path, temporal_proxy: TcpProxy,
) -> None:
    async with running_api(dev_server, database_url, mail_sink, tmp_path,
                           api_temporal_address=temporal_proxy.address,
                           temporal_rpc_timeout_seconds=1.5) as api:
        invoice_id = (await issue(api))["id"]
        temporal_proxy.pause()

        detail = await api.call("GET", f"/invoices/{invoice_id}", "accountant")
        assert (detail.status_code, detail.json()["balance"], detail.json()["next_action"]) == (
            200, "600.00", None)
        hung = await pay(api, invoice_id, "600.00", "PSP-1")
        assert (hung.status_code, bool(hung.headers["Retry-After"])) == (503, True)

        temporal_proxy.restore()  # the held request may get through now: it counts once
        retried = await pay(api, invoice_id, "600.00", "PSP-1")
        assert (retried.status_code, retried.json()["balance_after"]) == (201, "0.00")
        assert await count(api, Payment.id) == 1
        assert [m.purpose for m in await eventually(lambda: api.mail.to(CUSTOMER))] == ["paid"]


async def test_a_dispute_upheld_on_its_support_ticket_credits_the_invoice(api: Api) -> None:
    """Dunning and support, through their message contracts: the dispute opens a billing
    ticket; resolving the ticket as upheld credits the invoice and ends its dunning."""
    invoice_id = (await issue(api))["id"]
    await pay(api, invoice_id, "100.00", "PSP-9")
    disputed = await api.call("POST", f"/invoices/{invoice_id}/dispute", "website",
                              json={"reason": "half the licences never arrived"})
    assert disputed.json()["status"] == "disputed"

    async def the_ticket() -> Any:  # opened, and routed (no agent here: the team queue)
        found = (await api.call("GET", "/tickets", "admin", params={"queue": "all"})).json()
        return found[0] if found and found[0]["status"] != "new" else None

    ticket = await eventually(the_ticket)
    assert (ticket["invoice_id"], ticket["category"]) == (invoice_id, "billing")
    no_verdict = await api.call("POST", f"/tickets/{ticket['id']}/resolve", "admin",
                                json={"resolution": "checked the delivery"})
    assert no_verdict.status_code == 409  # a billing ticket must say whether it is upheld
    resolved = await api.call("POST", f"/tickets/{ticket['id']}/resolve", "admin",
                              json={"resolution": "the courier lost half", "upheld": True})
    assert resolved.status_code == 200, resolved.text

    async def credited() -> Any:
        invoice = (await api.call("GET", f"/invoices/{invoice_id}", "accountant")).json()
        return invoice if invoice["status"] == "credited" else None

    invoice = await eventually(credited)
    assert Decimal(invoice["balance"]) == Decimal("0")
    handle = api.temporal.get_workflow_handle(f"invoice-{invoice_id}")
    assert (await handle.result())["status"] == "credited"
