"""What the CRM refuses, and why; the API maps each kind to its HTTP status.

    CrmError
    ├── NotFound             → 404: no such object
    ├── Forbidden            → 403: this user may not do this
    ├── Conflict             → 409: not in this object's status
    │   └── MissingInformation → 409: a gate names the fields or documents missing
    └── FileRefused          → a file the CRM does not keep, naming the limit it breaks:
        ├── TooLarge         → 413
        └── UnsupportedType  → 415

    ServiceUnavailable       → 503: a system crmflow depends on does not answer; not a
                               refusal, so an activity meeting it retries
"""

from __future__ import annotations


class CrmError(Exception):
    title = "Refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(CrmError):
    title = "Not found"

    def __init__(self, object_type: str, object_id: object) -> None:
        super().__init__(f"{object_type} {object_id} does not exist")


class Forbidden(CrmError):
    title = "Forbidden"


class Conflict(CrmError):
    title = "Conflict"


class MissingInformation(Conflict):
    title = "Missing information"

    def __init__(self, rule: str, missing: list[str]) -> None:
        super().__init__(f"{rule}; missing: {', '.join(missing)}" if missing else rule)
        self.missing = missing


class FileRefused(CrmError):
    """A file refused for breaking a limit (``limit``: the setting, with its value)."""

    title = "File refused"

    def __init__(self, detail: str, limit: dict[str, object]) -> None:
        super().__init__(detail)
        self.limit = limit


class TooLarge(FileRefused):
    title = "Content too large"


class UnsupportedType(FileRefused):
    title = "Unsupported media type"


class ServiceUnavailable(Exception):
    """A system crmflow depends on does not answer: 503 with ``Retry-After``, try again."""

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
