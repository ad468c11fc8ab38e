"""An HTML template made a PDF. Templates are the company's data, never code: they run in
Jinja's sandbox, and WeasyPrint fetches nothing a template names (no file, no address: an
image is embedded as a ``data:`` URL), so a template cannot read the server's files or reach
a host inside the network. Text is set in DejaVu Sans (Debian's ``fonts-dejavu-core``,
installed by ``scripts/dev`` and ``scripts/test``), which has the letters of every European
language and the euro sign."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment


class DocumentError(ValueError):
    """A template that cannot make its document (a missing value, a broken template)."""


@functools.cache
def _templates(company: Path | None) -> SandboxedEnvironment:
    loaders = [FileSystemLoader(company)] if company else []
    return SandboxedEnvironment(
        loader=ChoiceLoader([*loaders, PackageLoader("crm.documents", "templates")]),
        autoescape=True, undefined=StrictUndefined)


def fetcher() -> Any:
    """WeasyPrint's fetcher, allowed only what a document embeds (``data:`` URLs)."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False, timeout=1)


def pdf(template: str, context: dict[str, Any], company: Path | None = None) -> bytes:
    """The template rendered with the context, as a PDF; the company's own template of that
    name (in ``company``) wins over crmflow's."""
    try:
        html = _templates(company).get_template(template).render(context)
    except Exception as error:  # Jinja's errors: undefined values, syntax, the sandbox
        raise DocumentError(f"document template {template}: {error}") from error
    try:  # imported here: without Pango, only the documents fail, not the worker
        from weasyprint import HTML
    except OSError as error:
        raise DocumentError(f"documents need Debian's libpango and fonts-dejavu-core "
                            f"(scripts/ensure-documents): {error}") from error
    return HTML(string=html, url_fetcher=fetcher()).write_pdf()
