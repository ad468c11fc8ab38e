"""crmflow's one settings object, read from the environment (prefix ``CRMFLOW_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_CONSOLE_SECRET = "development only: set CRMFLOW_CONSOLE_SECRET"


class Settings(BaseSettings):
    """Everything an operator can set without touching code."""

    model_config = SettingsConfigDict(env_prefix="CRMFLOW_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path(".crmflow")

    # CRM database: SQLite file under data_dir unless set.
    database_url: str = ""
    database_statistics_seconds: float = 60.0
    """How often the API refreshes stale query planner statistics (``crm.statistics``)."""

    # Temporal: a local dev server by default; a cluster or Temporal Cloud in production.
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "crmflow"
    temporal_tls: bool = False
    temporal_tls_client_cert: Path | None = None
    temporal_tls_client_key: Path | None = None
    temporal_tls_server_ca: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None
    temporal_ui_port: int | None = None
    temporal_rpc_timeout_seconds: float = 10.0
    """The API waits this long for any call to Temporal, then answers 503 (try again)."""

    # Files attached to quotes, projects, invoices and tickets (crm.files).
    file_store: Literal["local", "s3"] = "local"
    """Where their contents are kept: a local folder, or an S3-compatible bucket."""
    files_dir: Path | None = None
    """Where the local store keeps them; default ``data_dir/files``."""
    s3_bucket: str | None = None
    s3_prefix: str = ""
    """Keys start with this (``crmflow/``), to share a bucket."""
    s3_endpoint_url: str | None = None
    """An S3-compatible service's address (MinIO, Ceph, a cloud's); unset: AWS's."""
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    """Unset: boto3's own chain (AWS_* variables, the instance's role)."""
    file_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=1024 * 1024 * 1024)
    """The largest file accepted (a larger one is a 413 naming this limit)."""
    file_types: list[str] = ["application/pdf", "image/png", "image/jpeg", "image/gif",
                             "image/webp", "text/plain"]
    """The kinds of file accepted (anything else, or a file that is not what it says it is,
    is a 415 naming them)."""

    document_templates: Path | None = None
    """A folder of the company's own document templates (``quote.html.j2``), used instead of
    crmflow's (``crm/documents/templates/``)."""

    # Email: the dev stack's local mail sink by default.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_seconds: float = 30.0
    mail_from: str = "crmflow <crm@crmflow.localhost>"
    support_address: str = "support@crmflow.localhost"
    """Customers write to support here; ticket emails ask for answers here (Reply-To)."""

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_metrics_port: int | None = None
    api_processes: int = Field(default=1, ge=1, le=64)
    """How many API processes share the port (uvicorn's workers): Python runs one request's
    code at a time per process, so more processes use more cores."""
    worker_metrics_port: int | None = None
    worker_deployment: str | None = None
    """The Worker Deployment the worker serves (Worker Versioning, ``worker.versioning``);
    unset, an unversioned worker (the dev stack, tests)."""
    worker_build_id: str | None = None
    """The build this worker runs in its deployment; crmflow's release when unset."""
    worker_versioning_behavior: Literal["pinned", "auto_upgrade"] = "pinned"
    """Pinned: a process runs to its end on the build it started on. Auto-upgrade: it moves to
    each new current build (its changes then need patches, ``workflows.patches``)."""

    policy_file: Path | None = None

    # Outside systems (the `integration` role): when a secret is set, each of their requests
    # must be signed (HMAC-SHA256 over timestamp, method, path and body; see README).
    integration_secret: SecretStr | None = None
    signature_tolerance_seconds: int = 300

    webhook_secret: SecretStr | None = None
    """Signs every call of a webhook step (HMAC-SHA256, ``activities/webhooks.py``); unset,
    webhook steps call nothing (their status reads 0)."""

    console_secret: SecretStr = SecretStr(DEVELOPMENT_CONSOLE_SECRET)
    """Signs the web console's session cookies and CSRF tokens; the API refuses to serve in
    production with the development value."""
    console_session_hours: float = 8.0

    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _defaults_and_production_rules(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'crm.db'}"
        if self.webhook_secret is not None and not self.webhook_secret.get_secret_value():
            self.webhook_secret = None  # empty (compose's default) is unset, never a key
        if self.environment == "production":
            refused = []
            if self.database_url.startswith("sqlite"):
                refused.append("CRMFLOW_DATABASE_URL must name a PostgreSQL database")
            if self.smtp_host in ("127.0.0.1", "localhost") and self.smtp_port == 1025:
                refused.append("CRMFLOW_SMTP_HOST/PORT must name a real mail server")
            if refused:
                raise ValueError("refused in production: " + "; ".join(refused))
        return self

    @property
    def temporal_ui_url(self) -> str:
        host, _, port = self.temporal_address.rpartition(":")
        ui_port = self.temporal_ui_port or int(port) + 1000
        return f"http://{host}:{ui_port}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def file_store_dir(self) -> Path:
        """The local file store's folder."""
        return self.files_dir or self.data_dir / "files"


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
