"""Documents from templates: crmflow's quote, a company's own template in its place, and a
template that is data, never code — sandboxed, fetching nothing, failing with its name."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pytest

from crm.documents.attached import document_of
from crm.documents.render import DocumentError, fetcher, pdf
from workflows.contracts import EmailToSend

SENT = EmailToSend(
    to="jane@acme.example", template="quote_sent", purpose="submission_2:sent",
    related_type="quote", related_id=41, context={
        "recipient_name": "Jane Buyer", "quote_id": 41, "customer": "Łódź Grüße SA",
        "author_name": "Alice", "discount_pct": "12.5", "total": "1750.00 EUR",
        "valid_until": "2026-12-31",
        "lines": [{"description": "Licence", "quantity": "2", "unit_price": "1000.00"}]})


def text_of(document: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split())
                    for page in pypdf.PdfReader(io.BytesIO(document)).pages)


def test_the_quote_document_says_what_was_submitted() -> None:
    document = document_of(SENT)
    assert document is not None
    assert (document.kind, document.name) == ("quote", "quote-41-2.pdf")
    text = text_of(pdf(document.template, document.context))
    for said in ("Quote 41-2", "For: Łódź Grüße SA, attention of Jane Buyer",
                 "Valid until: 2026-12-31", "Licence 2 1000.00 2,000.00 EUR",
                 "Subtotal 2,000.00 EUR", "Discount 12.5 % \N{MINUS SIGN}250.00 EUR",
                 "Total 1750.00 EUR", "Page 1 of 1"):
        assert said in text, (said, text)


def test_only_the_quote_sent_carries_a_document() -> None:
    assert document_of(EmailToSend(to="x@y.example", template="quote_decided",
                                   purpose="p", related_type="quote", related_id=1)) is None


def test_a_company_template_replaces_crmflow_s(tmp_path: Path) -> None:
    (tmp_path / "quote.html.j2").write_text(
        "<h1>ACME offer {{ number }}</h1><img src='file:///etc/hostname'>"
        "<img src='http://127.0.0.1:9/tracker.png'>"
        "<img src='data:image/gif;base64,R0lGODlhAQABAAAAACw=' alt=''>")
    document = document_of(SENT)
    assert document is not None
    assert text_of(pdf(document.template, document.context, tmp_path)) == "ACME offer 41-2"


def test_a_document_fetches_nothing_but_what_it_embeds() -> None:
    for url in ("file:///etc/passwd", "http://169.254.169.254/latest/meta-data/",
                "https://example.com/logo.png"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            fetcher().fetch(url)
    assert fetcher().fetch("data:text/plain,hello").read() == b"hello"


@pytest.mark.parametrize(("template", "refusal"), [
    ("{{ number.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    ("{{ nothing_of_that_name }}", "'nothing_of_that_name' is undefined"),
    ("{% for %}", "document template quote.html.j2"),
])
def test_a_template_that_cannot_make_its_document_says_so(
    tmp_path: Path, template: str, refusal: str,
) -> None:
    (tmp_path / "quote.html.j2").write_text(template)
    document = document_of(SENT)
    assert document is not None
    with pytest.raises(DocumentError, match=refusal):
        pdf(document.template, document.context, tmp_path)
