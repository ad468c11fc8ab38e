"""How a process refuses a decision: an ApplicationError whose type the API maps to HTTP.

NotAllowed → 403, WrongStatus → 409, MissingInformation → 409 naming what is missing.
"""

from __future__ import annotations

from typing import NoReturn

from temporalio.exceptions import ApplicationError

NOT_ALLOWED = "NotAllowed"
WRONG_STATUS = "WrongStatus"
MISSING_INFORMATION = "MissingInformation"


def refuse(kind: str, reason: str, *, missing: list[str] | None = None) -> NoReturn:
    details = [{"missing": missing}] if missing else []
    raise ApplicationError(reason, *details, type=kind, non_retryable=True)
