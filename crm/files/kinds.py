"""What a file is, from its first bytes, not from what the sender says: a file accepted as
a PDF starts like one. Only the kinds the settings allow are kept (``file_types``)."""

from __future__ import annotations

import re

from crm.errors import TooLarge, UnsupportedType

SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF-", 0, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
)
"""Each kind's signature: its bytes and where they stand."""
TEXT = "text/plain"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def sniffed(content: bytes) -> str | None:
    """The kind the content is (by its signature; UTF-8 text without NUL is text), or None."""
    for signature, at, kind in SIGNATURES:
        if content[at:at + len(signature)] == signature:
            return kind if kind != "image/webp" or content[:4] == b"RIFF" else None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return TEXT if "\x00" not in text else None


def accepted(content: bytes, declared: str | None, allowed: list[str], largest: int) -> str:
    """The content's kind, if the settings allow it and it is what it says it is (a declared
    ``application/octet-stream`` says nothing); TooLarge or UnsupportedType naming the limit
    otherwise."""
    if len(content) > largest:
        raise TooLarge(f"file: a file is at most {largest} bytes (CRMFLOW_FILE_MAX_BYTES)",
                       {"file_max_bytes": largest})
    kind = sniffed(content)
    said = (declared or "").split(";")[0].strip().lower()
    limit: dict[str, object] = {"file_types": allowed}
    if kind is None or kind not in allowed:
        raise UnsupportedType(f"file: only {', '.join(allowed)} files are kept "
                              f"(CRMFLOW_FILE_TYPES)", limit)
    if said not in ("", "application/octet-stream", kind):
        raise UnsupportedType(f"file: it says it is {said} but it is {kind}", limit)
    return kind


def safe_name(name: str | None) -> str:
    """The file name without folders or control characters, at most 200 characters."""
    base = re.split(r"[/\\]", name or "")[-1]
    cleaned = _UNSAFE.sub("", base).strip().lstrip(".")
    return cleaned[:200] or "file"
