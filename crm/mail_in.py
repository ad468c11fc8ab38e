"""Email into support: a raw RFC 5322 message read with the standard library's ``email``.

What a ticket needs of it: who wrote (address and name), the subject, its Message-ID, the
Message-IDs it answers (``In-Reply-To`` and ``References``), the ticket number its subject
names ("[Ticket #31]"), the text the person wrote, without the quoted conversation, and the
files attached to it.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage

TICKET_TAG = re.compile(r"\[Ticket #(\d+)\]", re.IGNORECASE)
REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|sv|tr)\s*:\s*)+", re.IGNORECASE)
QUOTE_HEADER = re.compile(r"^(on .+ wrote:|le .+ a écrit ?:|-+ ?original message ?-+)\s*$",
                          re.IGNORECASE)
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
LONGEST_SUBJECT = 200
LONGEST_BODY = 20000


class NotAnEmail(ValueError):
    """The message cannot be read as an email (no sender, or not RFC 5322 at all)."""


@dataclass(frozen=True)
class Attachment:
    name: str | None
    content_type: str
    content: bytes


@dataclass
class InboundEmail:
    sender: str
    sender_name: str | None
    subject: str
    text: str
    message_id: str | None = None
    answers: list[str] = field(default_factory=list)
    """The Message-IDs it replies to: In-Reply-To first, then References, latest first."""
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def ticket_number(self) -> int | None:
        """The ticket its subject names, e.g. 31 for 'Re: [Ticket #31] Cannot log in'."""
        found = TICKET_TAG.search(self.subject)
        return int(found.group(1)) if found else None

    @property
    def topic(self) -> str:
        """The subject for a new ticket: without 'Re:' and a ticket tag."""
        topic = REPLY_PREFIX.sub("", TICKET_TAG.sub("", self.subject)).strip()
        return topic or "(no subject)"


def parse_email(raw: bytes) -> InboundEmail:
    """Read a raw message; ``NotAnEmail`` when it has no usable sender."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    if not isinstance(message, EmailMessage):
        raise NotAnEmail("not an RFC 5322 message")
    try:
        senders = message["From"].addresses if message["From"] else ()
    except (AttributeError, IndexError, ValueError) as error:
        raise NotAnEmail(f"unreadable From header: {error}") from error
    sender = next((a for a in senders if isinstance(a, Address) and a.addr_spec), None)
    if (sender is None or "@" not in sender.addr_spec
            or _storable(sender.addr_spec) != sender.addr_spec):
        raise NotAnEmail("the message has no From address")
    subject = " ".join(_storable(str(message["Subject"] or "")).split())[:LONGEST_SUBJECT]
    in_reply_to = MESSAGE_ID.findall(_storable(str(message["In-Reply-To"] or "")))
    references = MESSAGE_ID.findall(_storable(str(message["References"] or "")))
    answers = list(dict.fromkeys([*in_reply_to, *reversed(references)]))
    found_id = MESSAGE_ID.findall(_storable(str(message["Message-ID"] or "")))
    text = _storable(_written_text(message))[:LONGEST_BODY]
    return InboundEmail(
        sender=sender.addr_spec.lower(),
        sender_name=_storable(sender.display_name) or None,
        subject=subject,
        text=text or subject or "(empty message)",
        message_id=found_id[0] if found_id else None,
        answers=answers,
        attachments=_attachments(message),
    )


def _attachments(message: EmailMessage) -> list[Attachment]:
    """The files attached (an image pasted in the text, too), as sent."""
    found = []
    for part in message.iter_attachments():
        content = part.get_payload(decode=True)
        if isinstance(content, bytes) and not part.is_multipart():
            found.append(Attachment(part.get_filename(), part.get_content_type(), content))
    return found


def _storable(text: str) -> str:
    """The text as a database can store it: NUL dropped, and the bytes that were not text
    in their charset (the parser keeps them as lone surrogates) replaced by U+FFFD."""
    return UNSTORABLE.sub(lambda found: "" if found[0] == "\x00" else "\ufffd", text)


def _written_text(message: EmailMessage) -> str:
    """The new text of the message: the plain part (or the HTML one, untagged), without
    the quoted earlier messages a mail client adds below an answer."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except LookupError:  # a charset Python does not know, such as "unknown-8bit"
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if part.get_content_subtype() == "html":
        content = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(
            r"(?is)<(script|style).*?</\1>|<br\s*/?>|</p>", "\n", content)))
    lines = []
    for line in content.splitlines():
        if QUOTE_HEADER.match(line.strip()):
            break
        if not line.lstrip().startswith(">"):
            lines.append(line.rstrip())
    return "\n".join(lines).strip()
