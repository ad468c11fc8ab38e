"""What a request body may hold: the types every router's input models are built from.

Bad input gets a 422 naming the field, before anything is done:

- ``In``, the base of every request body: unknown fields are refused (a typo is not silently
  ignored), surrounding spaces stripped;
- ``SingleLine``: names, companies, subjects — anything that may end up in a mail header —
  refuse line breaks of every kind (``\\r``, ``\\n``, ``\\v``, ``\\f``, U+0085, U+2028,
  U+2029) and other control characters, so an email can always be built; blank refused;
- ``Paragraphs``: comments, notes, bodies — line breaks allowed, other controls refused;
- ``Id``: a database id (1 to 2**31 - 1), ``Offset`` for pages;
- ``Filter``: a list's text filter in the query (a status, a kind, an address): control
  characters refused (PostgreSQL cannot compare a text holding NUL);
- ``Currency``: an ISO 4217 code in force;
- ``lines_total``: the total of a quote's or an invoice's lines, refused (naming ``lines``)
  beyond ``MAX_AMOUNT``, the largest amount the database holds.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_ID = 2**31 - 1
"""The largest id a CRM table holds (INTEGER on PostgreSQL)."""
MAX_AMOUNT = Decimal("9999999999.99")
"""The largest amount a CRM table holds (NUMERIC(12, 2)): a quote's or an invoice's total
must fit too."""
LINE_BREAKS = frozenset("\r\n\v\f\x85\u2028\u2029")


class In(BaseModel):
    """A request body: unknown fields refused, surrounding spaces stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _controls(text: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    return sorted({f"U+{ord(c):04X}" for c in text if c not in allowed and (
        c in LINE_BREAKS or unicodedata.category(c) in ("Cc", "Zl", "Zp"))})


def _single_line(text: str) -> str:
    if found := _controls(text):
        raise ValueError(f"must be one line of text, without line breaks or control "
                         f"characters (found {', '.join(found)})")
    return text


def _paragraphs(text: str) -> str:
    text = text.replace("\r\n", "\n")
    if found := _controls(text, frozenset("\n\t")):
        raise ValueError(f"must not hold control characters (found {', '.join(found)})")
    return text


def _currency(code: str) -> str:
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"{code} is not an ISO 4217 currency code (e.g. EUR, USD, NOK)")
    return code


def lines_total(amounts: Iterable[Decimal]) -> Decimal:
    """The lines' total; a ``ValueError`` (422 on the lines) if no amount could hold it."""
    total = sum(amounts, Decimal(0))
    if total > MAX_AMOUNT:
        raise ValueError(f"the lines come to {total:,.2f}, more than the largest amount "
                         f"crmflow holds ({MAX_AMOUNT:,.2f})")
    return total


SingleLine = Annotated[str, Field(min_length=1), AfterValidator(_single_line)]
Paragraphs = Annotated[str, Field(max_length=20_000), AfterValidator(_paragraphs)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Offset = Annotated[int, Field(ge=0, le=MAX_ID)]
Filter = Annotated[str, AfterValidator(_single_line)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency)]

DOCUMENT_KIND = r"^[a-z][a-z0-9_]{0,63}$"
"""What document a file is, as a word: proof_of_address."""
