"""What the Dockerfile, compose and Kubernetes run, run here outside Docker.

No Docker engine exists on the development machine, so the image cannot be built in tests.
Instead each command line the deployment files give is read from those files and started as
a process (on loopback: ``0.0.0.0`` becomes ``127.0.0.1``, the port a free one), and the
image's HEALTHCHECK command and the probes' paths are run against it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shared.simulator import SimulatorConfig, create_app
from shared.simulator.server import serve_simulator
from shared.store import async_database_url, create_store_engine, schema_state
from tests.bot.fake_slack import SIGNING_SECRET, FakeSlack

ROOT = Path(__file__).resolve().parents[1]
SIM_KEY = "deploy-test-key"
MCP_TOKEN = "deploy-test-token-0123456789"


def _dockerfile_json(instruction: str) -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(rf"^{instruction}\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert match is not None, f"no exec-form {instruction} in the Dockerfile"
    value: list[str] = json.loads(match.group(1))
    return value


def _healthcheck_command() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert match is not None, "no exec-form HEALTHCHECK CMD in the Dockerfile"
    value: list[str] = json.loads(match.group(1))
    return value


def _kubernetes_document(name: str, kind: str) -> dict[str, Any]:
    for document in yaml.safe_load_all((ROOT / "deploy/kubernetes" / f"{name}.yaml").read_text()):
        if document and document["kind"] == kind:
            found: dict[str, Any] = document
            return found
    raise AssertionError(f"no {kind} in {name}.yaml")


def _kubernetes_container(name: str, kind: str = "Deployment") -> dict[str, Any]:
    container: dict[str, Any] = _kubernetes_document(name, kind)["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "deploy/compose.yml").read_text())
    return compose


def _dockerfile_env() -> dict[str, str]:
    """The ``ENV`` values of the runtime stage (``NAME=value`` pairs, continued lines joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    runtime = text.split(" AS runtime", 1)[1]
    values: dict[str, str] = {}
    for line in re.findall(r"^ENV\s+(.*)$", runtime, re.MULTILINE):
        values.update(pair.split("=", 1) for pair in line.split() if "=" in pair)
    return values


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _on_loopback(argv: list[str], port: int) -> list[str]:
    out = ["127.0.0.1" if arg == "0.0.0.0" else arg for arg in argv]
    out[out.index("--port") + 1] = str(port)
    return out


@asynccontextmanager
async def _running(argv: list[str], env: Mapping[str, str]) -> AsyncGenerator[None]:
    """``python -m <argv>`` as the image's ENTRYPOINT runs it, stopped with SIGTERM after."""
    entrypoint = _dockerfile_json("ENTRYPOINT")
    assert entrypoint[0] == "python"
    process = await asyncio.create_subprocess_exec(
        sys.executable, *entrypoint[1:], *argv,
        env={**os.environ, **env},
        cwd=tempfile.gettempdir(),  # no developer's .env there
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield
    finally:
        process.terminate()
        async with asyncio.timeout(20):
            _, err = await process.communicate()
        assert b"Traceback" not in err, err.decode()[-2000:]


async def _wait_healthy(port: int, path: str) -> None:
    async with httpx.AsyncClient() as http, asyncio.timeout(30):
        while True:  # bounded by the timeout: until the server answers its probe
            try:
                if (await http.get(f"http://127.0.0.1:{port}{path}")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)


async def _healthcheck_passes(port: int) -> bool:
    command = _healthcheck_command()
    assert command[0] == "python"
    check = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], env={**os.environ, "HEALTH_PORT": str(port)}
    )
    async with asyncio.timeout(20):
        return await check.wait() == 0


def _clean_env() -> dict[str, str]:
    return {k: "" for k in os.environ if k.startswith(("LSQ_", "SLACK_", "MCP_", "REDIS_"))}


@pytest.fixture
async def simulator_url() -> AsyncIterator[str]:
    async with serve_simulator(create_app(SimulatorConfig(api_key=SIM_KEY))) as url:
        yield url


async def test_the_images_default_command_serves_the_slack_app_and_passes_its_healthcheck(
    simulator_url: str,
) -> None:
    cmd = _dockerfile_json("CMD")
    assert cmd[0] == "bot"
    assert _kubernetes_container("bot")["args"] == cmd
    fake = FakeSlack()
    port = _free_port()
    async with serve_simulator(fake.app) as slack_url:
        env = {
            **_clean_env(),
            "LSQ_API_KEY": SIM_KEY,
            "LSQ_ASYNC_BASE_URL": simulator_url,
            "SLACK_BOT_TOKEN": "xoxb-deploy-test",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_url,
        }
        async with _running(_on_loopback(cmd, port), env):
            container = _kubernetes_container("bot")
            await _wait_healthy(port, container["readinessProbe"]["httpGet"]["path"])
            await _wait_healthy(port, container["livenessProbe"]["httpGet"]["path"])
            assert await _healthcheck_passes(port)
            async with httpx.AsyncClient() as http:
                metrics = await http.get(f"http://127.0.0.1:{port}/metrics")
            assert metrics.status_code == 200
            assert "capture_status_" in metrics.text


def _config_map() -> dict[str, str]:
    for document in yaml.safe_load_all((ROOT / "deploy/kubernetes/config.yaml").read_text()):
        if document and document["kind"] == "ConfigMap":
            data: dict[str, str] = document["data"]
            return data
    raise AssertionError("no ConfigMap in config.yaml")


async def test_the_mcp_command_of_kubernetes_serves_mcp_and_passes_the_healthcheck(
    simulator_url: str,
) -> None:
    container = _kubernetes_container("mcp")
    args: list[str] = container["args"]
    assert args[0] == "mcp_server"
    port = _free_port()
    env = {
        **_clean_env(),
        "LSQ_API_KEY": SIM_KEY,
        "LSQ_ASYNC_BASE_URL": simulator_url,
        "MCP_AUTH_TOKENS": MCP_TOKEN,
        # the ingress names of the ConfigMap, no loopback name among them
        "MCP_ALLOWED_HOSTS": _config_map()["MCP_ALLOWED_HOSTS"],
    }
    async with _running(_on_loopback(args, port), env):
        # the kubelet and Prometheus send the address they connect to as Host (here loopback)
        await _wait_healthy(port, container["livenessProbe"]["httpGet"]["path"])
        assert await _healthcheck_passes(port)
        await _wait_healthy(port, container["readinessProbe"]["httpGet"]["path"])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            metrics = await http.get("/metrics")
            refused = await http.post("/mcp", json={})
            rebound = await http.get("/healthz", headers={"host": "evil.example.com"})
            rebound_ready = await http.get("/readyz", headers={"host": "evil.example.com"})
        assert metrics.status_code == 200
        assert refused.status_code == 401
        assert rebound.status_code == 421
        assert rebound_ready.status_code == 421


def test_compose_runs_the_same_commands_as_the_image_and_kubernetes() -> None:
    services = _compose()["services"]
    assert services["bot"]["command"] == _dockerfile_json("CMD")
    assert services["mcp"]["command"] == _kubernetes_container("mcp")["args"]
    for name in ("bot", "mcp"):
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert "HEALTH_PORT" in services[name]["environment"]


def test_kubernetes_takes_secrets_by_reference_and_probes_the_served_port() -> None:
    for name in ("bot", "mcp"):
        container = _kubernetes_container(name)
        refs = [source for source in container["envFrom"] if "secretRef" in source]
        assert refs == [{"secretRef": {"name": "capture-status-secrets"}}]
        assert "env" not in container or all("value" not in e or "SECRET" not in e["name"]
                                              for e in container["env"])  # fmt: skip
        port = int(container["args"][container["args"].index("--port") + 1])
        assert container["ports"][0]["containerPort"] == port
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["port"] == container["ports"][0]["name"]


def test_the_image_copies_every_package_the_project_installs() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        pattern.rstrip("*")
        for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.M))
    assert packages <= copied, f"the image misses {sorted(packages - copied)}"
    # the console script lives in one of them, so it works in the image too
    script = project["project"]["scripts"]["capture-status"]
    assert script.split(".")[0] in copied


# --- the database of watches: PostgreSQL for replicas, migrations once, SQLite on a volume ---


def test_compose_runs_postgresql_on_a_volume_and_migrates_once_before_the_front_doors() -> None:
    compose = _compose()
    services = compose["services"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    volume, mounted_on = postgres["volumes"][0].split(":")
    assert volume in compose["volumes"]  # a named volume: the data outlives the container
    assert mounted_on == "/var/lib/postgresql/data"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    migrate = services["migrate"]
    assert migrate["command"] == _kubernetes_container("migrate", "Job")["args"]
    assert migrate["command"] == ["cli", "migrate"]  # python -m cli migrate: capture-status migrate
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    database_url = migrate["environment"]["DATABASE_URL"]
    assert database_url.startswith("postgresql://capture_status:")
    assert database_url.endswith("@postgres:5432/capture_status")
    assert "${POSTGRES_PASSWORD" in database_url  # never a password written in the file
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    for name in ("bot", "mcp"):
        service = services[name]
        assert service["environment"]["DATABASE_URL"] == database_url
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert service["read_only"] is True


def test_kubernetes_takes_the_database_url_from_a_secret_and_migrates_in_a_job() -> None:
    reference = {"secretKeyRef": {"name": "capture-status-database", "key": "DATABASE_URL"}}
    job = _kubernetes_document("migrate", "Job")
    migrate = _kubernetes_container("migrate", "Job")
    for container in (_kubernetes_container("bot"), _kubernetes_container("mcp"), migrate):
        [database] = [e for e in container["env"] if e["name"] == "DATABASE_URL"]
        assert database == {"name": "DATABASE_URL", "valueFrom": reference}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["image"] == migrate["image"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    assert job["spec"]["backoffLimit"] >= 1
    # the Job's run of the image, like the Deployments' (its ENTRYPOINT is python -m)
    assert _dockerfile_json("ENTRYPOINT") == ["python", "-m"]
    assert migrate["args"][0] == "cli"


def test_the_images_sqlite_database_lies_on_a_declared_volume() -> None:
    [volume] = _dockerfile_json("VOLUME")
    database_url = _dockerfile_env()["DATABASE_URL"]
    assert database_url.startswith("sqlite:///")
    path = Path(database_url.removeprefix("sqlite:///"))
    assert path.is_absolute()
    assert path.parent == Path(volume)  # writable although the root file system is read-only
    assert re.search(rf"mkdir {volume} && chown 10001", (ROOT / "Dockerfile").read_text())
    assert "USER 10001" in (ROOT / "Dockerfile").read_text()


async def test_the_migrate_command_of_compose_and_the_job_brings_the_database_up_to_date(
    database_url: str,
) -> None:
    argv = _kubernetes_container("migrate", "Job")["args"]
    env = {**os.environ, **_clean_env(), "DATABASE_URL": database_url}
    for _ in range(2):  # a second run changes nothing and succeeds too
        process = await asyncio.create_subprocess_exec(
            sys.executable, *_dockerfile_json("ENTRYPOINT")[1:], *argv,
            env=env,
            cwd=tempfile.gettempdir(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(60):
            out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        assert "is up to date: the schema is at revision" in out.decode()
    engine = create_store_engine(async_database_url(database_url))
    try:
        assert (await schema_state(engine)).up_to_date
    finally:
        await engine.dispose()
