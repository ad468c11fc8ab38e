"""How a process refuses a decision: an ApplicationError whose type the API maps to HTTP.

NotAllowed → 403, WrongStatus → 409, MissingInformation → 409 naming what is missing.
"""

from __future__ import annotations

from typing import NoReturn

from temporalio.exceptions import ApplicationError

NOT_ALLOWED = "NotAllowed"
WRONG_STATUS = "WrongStatus"
MISSING_INFORMATION = "MissingInformation"


def refuse(
    kind: str, reason: str, *, missing: list[str] | None = None, status: str | None = None
) -> NoReturn:
    """Refuse; ``status`` is the process's status when that is why (the API compares it
    with the CRM's record to tell a process catching up after a crash)."""
    details: dict[str, object] = {"missing": missing} if missing else {}
    if status is not None:
        details["status"] = status
    raise ApplicationError(reason, *([details] if details else []), type=kind,
                           non_retryable=True)
