"""Settings from the environment, and the Temporal connection they describe."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from crm.settings import Settings
from crm.temporal import connect_options


def test_the_embedded_default_lives_in_the_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMFLOW_DATA_DIR", "/srv/crm")
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:////srv/crm/crm.db"
    assert settings.temporal_ui_url == "http://127.0.0.1:8233"
    assert settings.mail_dir == Path("/srv/crm/mail")


def test_production_refuses_the_development_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMFLOW_ENVIRONMENT", "production")
    with pytest.raises(ValidationError) as refused:
        Settings()
    message = str(refused.value)
    assert "CRMFLOW_DATABASE_URL must name a PostgreSQL database" in message
    assert "CRMFLOW_SMTP_HOST/PORT must name a real mail server" in message
    monkeypatch.setenv("CRMFLOW_DATABASE_URL", "postgresql+asyncpg://crm@db/crm")
    monkeypatch.setenv("CRMFLOW_SMTP_HOST", "smtp.example.com")
    assert Settings().environment == "production"


def test_local_dev_server_needs_no_tls() -> None:
    options = connect_options(Settings(temporal_address="127.0.0.1:7233"))
    assert options["target_host"] == "127.0.0.1:7233"
    assert options["namespace"] == "default"
    assert "tls" not in options and "api_key" not in options


def test_temporal_cloud_with_mtls(tmp_path: Path) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    options = connect_options(Settings(
        temporal_address="crm.a1b2c.tmprl.cloud:7233", temporal_namespace="crm.a1b2c",
        temporal_tls_client_cert=cert, temporal_tls_client_key=key,
    ))
    assert options["namespace"] == "crm.a1b2c"
    assert options["tls"].client_cert == b"CERT"
    assert options["tls"].client_private_key == b"KEY"


def test_temporal_cloud_with_an_api_key() -> None:
    options = connect_options(Settings(
        temporal_address="eu-west-1.aws.api.temporal.io:7233",
        temporal_namespace="crm.a1b2c", temporal_api_key="secret-key",
    ))
    assert options["api_key"] == "secret-key"
    assert options["tls"] is not None and options["tls"].client_cert is None


def test_a_client_cert_without_its_key_is_refused(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_bytes(b"CERT")
    with pytest.raises(ValueError, match="go together"):
        connect_options(Settings(temporal_tls_client_cert=cert))
