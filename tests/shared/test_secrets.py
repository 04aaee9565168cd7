"""Secrets never appear in logs, error messages or reprs."""

from __future__ import annotations

import io
import logging

import pytest
from pydantic import SecretStr

from shared.errors import CaptureStatusError, ConfigurationError
from shared.infra.logs import configure_logging
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.settings import load_settings
from shared.simulator import (
    SAMPLES,
    UNKNOWN_REQUEST_ID,
    Fault,
    FaultKind,
    SimulatorConfig,
    create_app,
)
from tests.conftest import fast_options

SECRET = "lsq-secret-key-7f3a9c"


async def test_the_api_key_is_never_logged_nor_shown_in_errors_or_reprs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(SimulatorConfig(api_key=SECRET))
    errors: list[CaptureStatusError] = []
    client = CaptureStatusClient(
        fast_options(retry_attempts=2),
        SecretStr(SECRET),
        transport=in_process_transport(app),
    )
    async with client:
        app.state.simulator.set_fault(
            Fault(kind=FaultKind.SERVER_ERROR, status_code=500, remaining=2)
        )
        for rid in (SAMPLES["created"].request_id, UNKNOWN_REQUEST_ID):
            try:
                await client.get_status(rid)
            except CaptureStatusError as error:
                errors.append(error)
        await client.get_status(SAMPLES["in_queue"].request_id)
        shown = [repr(client), repr(client.options), repr(client.budget), caplog.text]
    shown += [str(e) for e in errors] + [repr(e) for e in errors]
    assert errors
    assert caplog.records
    for text in shown:
        assert SECRET not in text


def test_settings_never_show_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSQ_API_KEY", SECRET)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-" + SECRET)
    monkeypatch.setenv("MCP_AUTH_TOKENS", f"{SECRET}-a,{SECRET}-b")
    settings = load_settings(_env_file=None)
    assert settings.lsq_api_key is not None
    assert settings.lsq_api_key.get_secret_value() == SECRET
    assert len(settings.mcp_auth_tokens) == 2
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text


def test_a_bad_setting_is_reported_without_echoing_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LSQ_API_KEY", SECRET)
    monkeypatch.setenv("LSQ_ASYNC_BASE_URL", f"ftp://{SECRET}")
    monkeypatch.setenv("LSQ_RATE_LIMIT_CALLS", f"x{SECRET}")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None)
    assert "LSQ_ASYNC_BASE_URL" in caught.value.message
    assert "LSQ_RATE_LIMIT_CALLS" in caught.value.message
    assert SECRET not in caught.value.message


def test_the_log_filter_masks_known_secrets_and_credential_shapes() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", secrets=[SECRET], stream=stream)
    log = logging.getLogger("capture_status.test")
    try:
        log.info("key %s", SECRET)
        log.info("GET /opportunity/capture?accessKey=u$abc&secretKey=def123 x-api-key: hunter22")
        log.info("Authorization: Bearer abc.def.ghi and xoxb-1234-5678-abcdef")
    finally:
        logging.getLogger().handlers.clear()
    text = stream.getvalue()
    for leaked in (SECRET, "u$abc", "def123", "hunter22", "abc.def.ghi", "xoxb-1234"):
        assert leaked not in text
    assert text.count("[redacted]") >= 5


def test_every_secret_setting_is_masked_in_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "LSQ_API_KEY": "k-" + SECRET,
        "SLACK_BOT_TOKEN": "b-" + SECRET,
        "SLACK_SIGNING_SECRET": "s-" + SECRET,
        "SLACK_APP_TOKEN": "a-" + SECRET,
        "REDIS_URL": f"redis://:{SECRET}@cache:6379/0",
        "MCP_AUTH_TOKENS": f"m1-{SECRET},m2-{SECRET}",
        "DATABASE_URL": f"postgresql://capture:{SECRET}@db:5432/watches",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    secrets = load_settings(_env_file=None).secret_values()
    assert len(secrets) == 9  # the database URL, and its password alone
    stream = io.StringIO()
    configure_logging("INFO", "text", secrets=secrets, stream=stream)
    try:
        logging.getLogger("capture_status.test").warning("settings: %s", " ".join(values.values()))
    finally:
        logging.getLogger().handlers.clear()
    assert SECRET not in stream.getvalue()


def test_json_log_extra_fields_are_scrubbed_too() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", secrets=[SECRET], stream=stream)
    try:
        logging.getLogger("capture_status.test").info(
            "lookup", extra={"request_id": "abc", "detail": f"key={SECRET} Bearer tok.en.x"}
        )
    finally:
        logging.getLogger().handlers.clear()
    text = stream.getvalue()
    assert SECRET not in text
    assert "tok.en.x" not in text
    assert '"request_id": "abc"' in text
