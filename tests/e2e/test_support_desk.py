"""The support desk end to end, through the dev stack (`crmflow dev`): a customer emails the
support address through the stack's SMTP server, the ticket opens, Sam answers through the
API, the answer lands in her mailbox in the same thread, and her mail client's reply comes
back onto the ticket."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from tests.e2e.test_stack import Stack, dev_env, eventually, mailbox, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Stack]:
    env = dev_env(tmp_path, policies=None)
    running = start_stack(env, tmp_path / "stack.log")
    yield running
    if running.process.poll() is None:
        running.stop()


def send(stack: Stack, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", int(stack.env["CRMFLOW_SMTP_PORT"]), timeout=30) as smtp:
        smtp.send_message(message)


def test_a_customer_emails_support_and_the_conversation_stays_one_thread(desk: Stack) -> None:
    first = EmailMessage()
    first["From"] = "Olga Customer <olga@fjord.example>"
    first["To"] = "support@crmflow.localhost"
    first["Subject"] = "My export is empty"
    first["Message-ID"] = first_id = make_msgid(domain="fjord.example")
    first.set_content("The CSV export of my contacts has no rows.")
    send(desk, first)

    sam = desk.http("sam")
    [ticket] = eventually(lambda: sam.get("/tickets?queue=mine").json())
    assert (ticket["subject"], ticket["channel"], ticket["requester_email"]) == (
        "My export is empty", "email", "olga@fjord.example")
    answered = sam.post(f"/tickets/{ticket['id']}/messages",
                        json={"from": "agent", "body": "Which browser do you use?"})
    assert answered.status_code == 200, answered.text

    def to_olga(purpose: str) -> list[EmailMessage]:
        return [m for m in mailbox(desk.mail_dir)
                if m["To"] == "olga@fjord.example" and m["X-Crmflow-Purpose"] == purpose]

    [ack] = eventually(lambda: to_olga("acknowledgement"))
    [reply] = eventually(lambda: to_olga("reply_1"))
    assert ack["In-Reply-To"] == first_id
    assert reply["Subject"] == f"Re: [Ticket #{ticket['id']}] My export is empty"
    assert reply["Reply-To"] == "support@crmflow.localhost"
    assert first_id in reply["References"] and ack["Message-ID"] in reply["References"]

    # Her mail client answers Sam's email: To the Reply-To, in the thread.
    answer = EmailMessage()
    answer["From"] = "olga@fjord.example"
    answer["To"] = reply["Reply-To"]
    answer["Subject"] = f"Re: {reply['Subject']}"
    answer["Message-ID"] = make_msgid(domain="fjord.example")
    answer["In-Reply-To"] = reply["Message-ID"]
    answer["References"] = f"{reply['References']} {reply['Message-ID']}"
    quoted = "\n".join(f"> {line}" for line in reply.get_body(("plain",)).get_content()
                        .splitlines())
    answer.set_content(f"Firefox.\n\nOn Monday, support wrote:\n{quoted}")
    send(desk, answer)

    def customer_messages() -> list[str]:
        shown = sam.get(f"/tickets/{ticket['id']}").json()
        return [m["body"] for m in shown["messages"] if m["author"] == "customer"]

    assert eventually(lambda: len(customer_messages()) == 2)
    assert customer_messages() == ["The CSV export of my contacts has no rows.", "Firefox."]
    assert len(sam.get("/tickets?queue=all").json()) == 1
    assert desk.stop() == 0
