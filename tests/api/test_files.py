"""Files on quotes and tickets (projects and invoices go the same way): uploaded as
multipart, listed, downloaded byte for byte by whoever may read the object and nobody else;
too large, of a kind not kept or not what it says it is: refused naming the limit, nothing
kept. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.files.kinds import safe_name, sniffed
from crm.files.store import digest_of
from crm.models import Lead, Quote, StoredFile, Ticket
from crmflow.mail_sink import MailSink
from tests.api.conftest import Api, running_api
from tests.api.test_tickets import support_tokens
from tests.test_file_store import s3_settings

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
LARGEST = 4096


@pytest.fixture
async def api(dev_server: WorkflowEnvironment, database_url: str,
              mail_sink: tuple[MailSink, int], tmp_path: Path) -> AsyncIterator[Api]:
    """The API with a small limit on files, so that "too large" is cheap to send."""
    async with running_api(dev_server, database_url, mail_sink, tmp_path,
                           file_max_bytes=LARGEST) as running:
        yield running


async def a_quote(api: Api) -> int:
    async with db.unit_of_work(api.sessions) as session:
        rep = api.team.rep
        lead = Lead(name="Jane", email="jane@acme.example", team_id=rep.team_id,
                    owner_id=rep.id, status="qualified")
        session.add(lead)
        await session.flush()
        quote = Quote(lead_id=lead.id, author_id=rep.id, team_id=rep.team_id)
        session.add(quote)
        await session.flush()
        return quote.id


async def upload(api: Api, path: str, who: str, name: str, content: bytes,
                 content_type: str, **form: str) -> Any:
    return await api.call("POST", path, who, files={"file": (name, content, content_type)},
                          data=form)


async def kept(api: Api) -> list[tuple[str, int, str, int, str]]:
    async with db.unit_of_work(api.sessions) as session:
        return [(f.object_type, f.object_id, f.name, f.size, f.sha256)
                for f in await session.scalars(select(StoredFile).order_by(StoredFile.id))]


async def test_a_rep_attaches_a_pdf_to_a_quote_and_its_readers_download_it(api: Api) -> None:
    quote = await a_quote(api)
    answer = await upload(api, f"/quotes/{quote}/files", "rep", "../../.offer.pdf", PDF,
                          "application/pdf", kind="signed_offer")
    assert answer.status_code == 201, answer.text
    attached = answer.json()
    assert {k: attached[k] for k in ("object_type", "object_id", "name", "content_type", "size",
                                     "sha256", "kind", "source", "uploaded_by_id", "url")} == {
        "object_type": "quote", "object_id": quote, "name": "offer.pdf",
        "content_type": "application/pdf", "size": len(PDF), "sha256": digest_of(PDF),
        "kind": "signed_offer", "source": "upload", "uploaded_by_id": api.team.rep.id,
        "url": f"/files/{attached['id']}"}
    assert await kept(api) == [("quote", quote, "offer.pdf", len(PDF), digest_of(PDF))]
    stored = api.settings.file_store_dir / digest_of(PDF)[:2] / digest_of(PDF)
    assert stored.read_bytes() == PDF  # in the store, not in the database

    listed = await api.call("GET", f"/quotes/{quote}/files", "manager")
    assert [f["id"] for f in listed.json()] == [attached["id"]]
    for who in ("rep", "other_rep", "manager", "admin"):  # the team reads its quotes
        got = await api.call("GET", attached["url"], who)
        assert got.status_code == 200, (who, got.text)
        assert got.content == PDF and got.headers["content-type"] == "application/pdf"
        assert got.headers["content-disposition"] == "inline; filename*=UTF-8''offer.pdf"
        assert got.headers["x-content-type-options"] == "nosniff"
    # Another team's manager, support and the website may not read the quote: nor its file.
    for who in ("foreign_manager", "website", "accountant"):
        refused = await api.call("GET", attached["url"], who)
        assert refused.status_code == 403, (who, refused.text)
    assert (await api.call("GET", f"/quotes/{quote}/files", "foreign_manager")
            ).status_code == 403
    assert (await api.call("GET", "/files/999999", "admin")).status_code == 404


async def test_the_same_content_twice_is_two_files_stored_once(api: Api) -> None:
    quote = await a_quote(api)
    for name in ("offer.pdf", "copy.pdf"):
        assert (await upload(api, f"/quotes/{quote}/files", "rep", name, PDF,
                             "application/pdf")).status_code == 201
    assert [name for _, _, name, _, _ in await kept(api)] == ["offer.pdf", "copy.pdf"]
    assert [p.name for p in api.settings.file_store_dir.rglob("*") if p.is_file()] == [
        digest_of(PDF)]


async def test_what_is_not_kept_is_refused_naming_the_limit_and_nothing_is_kept(
    api: Api,
) -> None:
    quote = await a_quote(api)
    path = f"/quotes/{quote}/files"
    too_big = await upload(api, path, "rep", "big.pdf", PDF + bytes(LARGEST), "application/pdf")
    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["field"] == "file"
    assert too_big.json()["limit"] == {"file_max_bytes": LARGEST}
    huge = await upload(api, path, "rep", "huge.pdf", PDF + bytes(200_000), "application/pdf")
    assert huge.status_code == 413 and "CRMFLOW_FILE_MAX_BYTES" in huge.json()["detail"]
    program = await upload(api, path, "rep", "setup.exe", b"MZ\x90\x00" + bytes(64),
                           "application/octet-stream")
    assert program.status_code == 415, program.text
    assert program.json()["limit"]["file_types"][0] == "application/pdf"
    lying = await upload(api, path, "rep", "photo.png", PDF, "image/png")
    assert lying.status_code == 415
    assert lying.json()["detail"] == "file: it says it is image/png but it is application/pdf"
    no_file = await api.call("POST", path, "rep", data={"kind": "x"},
                             files={"other": ("a.txt", b"hello", "text/plain")})
    assert no_file.status_code == 422
    assert [e["field"] for e in no_file.json()["errors"]] == ["file"]
    bad_kind = await upload(api, path, "rep", "a.pdf", PDF, "application/pdf",
                            kind="Proof Of Address")
    assert bad_kind.status_code == 422
    assert [e["field"] for e in bad_kind.json()["errors"]] == ["kind"]
    someone_else = await upload(api, path, "other_rep", "a.pdf", PDF, "application/pdf")
    assert someone_else.status_code == 403  # only its author attaches to a rep's quote
    assert await kept(api) == []
    assert not api.settings.file_store_dir.exists() or not any(
        p.is_file() for p in api.settings.file_store_dir.rglob("*"))


async def test_the_customer_s_photo_on_a_ticket_is_seen_by_support(api: Api) -> None:
    team = await support_tokens(api)
    async with db.unit_of_work(api.sessions) as session:
        ticket = Ticket(requester_email="jane@acme.example", subject="Lost SIM",
                        category="general", assignee_id=team.agent.id, status="open")
        session.add(ticket)
        await session.flush()
        ticket_id = ticket.id
    answer = await upload(api, f"/tickets/{ticket_id}/files", "website", "proof.png", PNG,
                          "image/png", kind="proof_of_address")
    assert answer.status_code == 201, answer.text
    listed = (await api.call("GET", f"/tickets/{ticket_id}/files", "sam")).json()
    assert [(f["name"], f["kind"], f["content_type"]) for f in listed] == [
        ("proof.png", "proof_of_address", "image/png")]
    photo = await api.call("GET", listed[0]["url"], "lea")
    assert photo.status_code == 200 and photo.content == PNG
    for who in ("website", "rep"):  # the website sends files; it reads no ticket
        assert (await api.call("GET", listed[0]["url"], who)).status_code == 403
    async with db.unit_of_work(api.sessions) as session:
        assert await session.scalar(select(func.count()).select_from(StoredFile)) == 1


@pytest.mark.parametrize(("content", "kind"), [
    (PDF, "application/pdf"), (PNG, "image/png"), (b"\xff\xd8\xff\xe0" + bytes(8), "image/jpeg"),
    (b"GIF89a" + bytes(8), "image/gif"), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", None), ("Grüße\n".encode(), "text/plain"),
    (b"text\x00with a NUL", None), (b"\xc3\x28 not UTF-8", None),
])
def test_a_file_is_what_its_first_bytes_say(content: bytes, kind: str | None) -> None:
    assert sniffed(content) == kind


@pytest.mark.parametrize(("given", "kept_as"), [
    ("offer.pdf", "offer.pdf"), ("C:\\Users\\jane\\proof.png", "proof.png"),
    ("../../.htaccess", "htaccess"), ("bell\x07\r\n.pdf", "bell.pdf"), ("", "file"),
    (None, "file"), ("x" * 300 + ".pdf", "x" * 200),
])
def test_a_file_name_keeps_no_folder_and_no_control_character(given: str | None,
                                                              kept_as: str) -> None:
    assert safe_name(given) == kept_as


async def test_on_an_s3_bucket_a_file_goes_up_and_comes_back_the_same(
    dev_server: WorkflowEnvironment, database_url: str, mail_sink: tuple[MailSink, int],
    tmp_path: Path, s3_server: str,
) -> None:
    bucket = s3_settings(s3_server, tmp_path)
    on_s3 = {name: getattr(bucket, name) for name in (
        "file_store", "s3_bucket", "s3_prefix", "s3_endpoint_url", "s3_region",
        "s3_access_key_id", "s3_secret_access_key")}
    async with running_api(dev_server, database_url, mail_sink, tmp_path, **on_s3) as api:
        quote = await a_quote(api)
        answer = await upload(api, f"/quotes/{quote}/files", "rep", "offer.pdf", PDF,
                              "application/pdf")
        assert answer.status_code == 201, answer.text
        got = await api.call("GET", answer.json()["url"], "manager")
        assert got.status_code == 200 and got.content == PDF
        assert not api.settings.file_store_dir.exists()  # nothing on the local disk
