"""Email into support (``POST /inbound/email``) with real RFC 5322 messages: a new email opens
a ticket, an answer in the ticket's thread becomes a message on it, the same email twice is
taken once, and anyone else's email is a ticket of its own."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import func, select

from crm import db
from crm.models import StoredFile, User
from crm.repo import people
from tests import factories
from tests.api.conftest import Api
from tests.api.test_files import PNG
from tests.waiting import eventually

JANE = "jane@acme.example"


def email(sender: str, subject: str, text: str, *, replying_to: str | None = None,
          references: str | None = None) -> tuple[bytes, str]:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@crmflow.localhost"
    message["Subject"] = subject
    message["Message-ID"] = message_id = make_msgid(domain="mail.acme.example")
    if replying_to:
        message["In-Reply-To"] = replying_to
        message["References"] = references or replying_to
    message.set_content(text)
    return message.as_bytes(), message_id


async def post(api: Api, raw: bytes) -> tuple[int, dict]:
    answer = await api.call("POST", "/inbound/email", "website", content=raw,
                            headers={"Content-Type": "message/rfc822"})
    return answer.status_code, answer.json()


async def test_a_new_email_opens_a_ticket_and_the_answers_thread_into_it(api: Api) -> None:
    team = await factories.support_team(api.sessions)
    raw, first_id = email("Jane Buyer <Jane@Acme.example>", "Invoice looks wrong",
                          "Hello,\nI was billed twice this month.\nJane")
    code, opened = await post(api, raw)
    assert code == 201 and opened["outcome"] == "opened"
    ticket_id = opened["ticket_id"]
    [ack] = await eventually(lambda: api.mail.to(JANE))
    assert ack.subject == f"[Ticket #{ticket_id}] Invoice looks wrong"
    assert ack.message["In-Reply-To"] == first_id

    # Her mail client's answer to the acknowledgement, quoting it below.
    raw, answer_id = email(JANE, f"Re: {ack.subject}",
                           "Here is the invoice number: 2026-117.\n\n"
                           f"On Mon, support wrote:\n> {ack.text.splitlines()[0]}",
                           replying_to=ack.message["Message-ID"],
                           references=f"{first_id} {ack.message['Message-ID']}")
    code, added = await post(api, raw)
    assert (code, added["outcome"], added["ticket_id"]) == (200, "message_added", ticket_id)
    assert await post(api, raw) == (200, {**added, "outcome": "duplicate"})

    # Only the subject names the ticket (another mail client): still the same ticket.
    raw, _ = email(JANE, f"RE: [Ticket #{ticket_id}] Invoice looks wrong", "Any news?")
    code, by_subject = await post(api, raw)
    assert (code, by_subject["ticket_id"]) == (200, ticket_id)

    # Someone else answering the thread opens a ticket of their own.
    raw, _ = email("mallory@evil.example", f"Re: {ack.subject}", "me too",
                   replying_to=ack.message["Message-ID"])
    code, other = await post(api, raw)
    assert code == 201 and other["ticket_id"] != ticket_id

    api.tokens["sam"] = await _token(api, team.agent)
    shown = (await api.call("GET", f"/tickets/{ticket_id}", "sam")).json()
    assert (shown["channel"], shown["requester_name"], shown["subject"]) == (
        "email", "Jane Buyer", "Invoice looks wrong")
    assert [(m["author"], m["body"], m["message_id"]) for m in shown["messages"]] == [
        ("customer", "Hello,\nI was billed twice this month.\nJane", first_id),
        ("customer", "Here is the invoice number: 2026-117.", answer_id),
        ("customer", "Any news?", shown["messages"][2]["message_id"]),
    ]


async def test_one_email_delivered_three_times_at_once_opens_one_ticket(api: Api) -> None:
    raw, _ = email(JANE, "Printer on fire", "Come quickly.")
    answers = await asyncio.gather(*(post(api, raw) for _ in range(3)))
    assert sorted(code for code, _ in answers) == [200, 200, 201]
    assert len({body["ticket_id"] for _, body in answers}) == 1
    assert sorted(body["outcome"] for _, body in answers) == ["duplicate", "duplicate",
                                                              "opened"]


async def test_what_is_not_an_email_is_refused_and_only_the_mail_system_posts(api: Api) -> None:
    code, problem = await post(api, b"this is not an email at all")
    assert code == 422 and problem["errors"][0]["field"] == "message"
    raw, _ = email(JANE, "Hi", "hello")
    refused = await api.call("POST", "/inbound/email", "rep", content=raw,
                             headers={"Content-Type": "message/rfc822"})
    assert refused.status_code == 403


async def _token(api: Api, user: User) -> str:
    async with db.unit_of_work(api.sessions) as session:
        return await people.issue_token(session=session, user=user)


async def test_the_files_an_email_carries_land_on_its_ticket(api: Api) -> None:
    await factories.support_team(api.sessions)
    raw, _ = email(JANE, "Lost my SIM", "My SIM card is lost; the proof is attached.")
    code, opened = await post(api, raw)
    assert code == 201
    ticket_id = opened["ticket_id"]
    [ack] = await eventually(lambda: api.mail.to(JANE))

    reply = EmailMessage()
    reply["From"], reply["To"] = JANE, "support@crmflow.localhost"
    reply["Subject"] = f"Re: {ack.subject}"
    reply["Message-ID"] = make_msgid(domain="mail.acme.example")
    reply["In-Reply-To"] = ack.message["Message-ID"]
    reply.set_content("Here is a photo of my electricity bill.")
    reply.add_attachment(PNG, maintype="image", subtype="png", filename="bill.png")
    reply.add_attachment(b"MZ\x90\x00" + bytes(60), maintype="application",
                         subtype="octet-stream", filename="virus.exe")
    code, added = await post(api, reply.as_bytes())
    assert (code, added["outcome"]) == (200, "message_added")
    assert added["attachments_refused"] == [{
        "name": "virus.exe", "reason": added["attachments_refused"][0]["reason"]}]
    assert "only application/pdf" in added["attachments_refused"][0]["reason"]
    async with db.unit_of_work(api.sessions) as session:
        kept = [(f.object_type, f.object_id, f.name, f.content_type, f.source, f.size)
                for f in await session.scalars(select(StoredFile))]
    assert kept == [("ticket", ticket_id, "bill.png", "image/png", "email", len(PNG))]
    # The same email again is taken once: no second file.
    code, again = await post(api, reply.as_bytes())
    assert (code, again["outcome"]) == (200, "duplicate")
    async with db.unit_of_work(api.sessions) as session:
        assert await session.scalar(select(func.count()).select_from(StoredFile)) == 1
