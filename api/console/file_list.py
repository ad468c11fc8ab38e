"""The files a case page lists: its object's, through the API as the signed-in user, with
the previews a browser shows (PDFs, images); and a task's description with its file linked."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape

from api.console.backend import Refused
from api.console.views import Page

CARRIERS = ("quote", "project", "invoice", "ticket")
"""The case pages whose objects carry files."""
PREVIEWED = ("application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp")
_FILE_LINK = re.compile(r"\(/files/(\d+)\)")


async def files_of(page: Page, kind: str, object_id: int,
                   milestones: list[dict[str, Any]] | None = None
                   ) -> list[dict[str, Any]] | None:
    """The object's files, as the case page lists them (None: it carries none); a
    project's milestones' files with them, each saying its milestone."""
    if kind not in CARRIERS:
        return None
    places = [(f"/{kind}s/{object_id}/files", None)] + [
        (f"/projects/{object_id}/milestones/{m['id']}/files", m["name"])
        for m in milestones or []]
    found = []
    for path, on in places:
        try:
            found += [{**f, "on": on} for f in await page.backend.get(path)]
        except Refused:
            continue
    return [{**f, "href": f"/console/files/{f['id']}", "previewed": f["content_type"] in
             PREVIEWED} for f in found]


def linked(text: str | None) -> Markup:
    """A task's description with its ``(/files/12)`` made a link to the file."""
    return Markup(_FILE_LINK.sub(lambda m: f'(<a href="/console/files/{m[1]}">file {m[1]}</a>)',
                                 str(escape(text or ""))))
