"""``capture-status migrate``: the one-shot schema step of a deployment, on both databases."""

from __future__ import annotations

import asyncio

from shared import EXIT_FAILED, EXIT_OK
from shared.store import async_database_url, create_store_engine, head_revision, schema_state
from tests.cli.conftest import Cli


async def _revision(url: str) -> str | None:
    engine = create_store_engine(async_database_url(url))
    try:
        return (await schema_state(engine)).current
    finally:
        await engine.dispose()


def test_migrate_brings_the_database_up_to_date_and_a_second_run_changes_nothing(
    cli: Cli, database_url: str
) -> None:
    cli.monkeypatch.setenv("DATABASE_URL", database_url)
    first = cli("migrate")
    assert first.code == EXIT_OK, first.err
    assert f"is up to date: the schema is at revision {head_revision()}." in first.out
    assert asyncio.run(_revision(database_url)) == head_revision()
    again = cli("migrate")
    assert again.code == EXIT_OK, again.err
    assert again.out == first.out
    assert cli.looked_up() == []  # LeadSquared is never asked


def test_migrate_needs_no_accounts(cli: Cli, database_url: str) -> None:
    cli.monkeypatch.setenv("DATABASE_URL", database_url)
    cli.monkeypatch.setenv("LSQ_ACCOUNTS_FILE", str(cli.folder / "not-mounted-in-the-job.toml"))
    ran = cli("migrate")
    assert ran.code == EXIT_OK, ran.err


def test_a_database_that_does_not_answer_exits_1_with_what_to_check_and_no_password(
    cli: Cli,
) -> None:
    cli.monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret-pw@127.0.0.1:1/watches")
    ran = cli("migrate")
    assert ran.code == EXIT_FAILED
    said = ran.err.replace("\n", " ")
    assert "Could not migrate the PostgreSQL database watches at 127.0.0.1:1" in said
    assert "check DATABASE_URL" in said
    assert "s3cret-pw" not in ran.out + ran.err
    assert "Traceback" not in ran.out + ran.err
