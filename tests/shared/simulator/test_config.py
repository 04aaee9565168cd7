"""The simulator's configuration: one account by default, more declared by name and key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.simulator.config import DEFAULT_ACCOUNT, SimulatedAccount, SimulatorConfig

EU = SimulatedAccount(name="eu", api_key="eu-key")
US = SimulatedAccount(name="us", api_key="us-key")


def test_a_config_without_accounts_serves_one_account_named_default_with_its_api_key() -> None:
    assert SimulatorConfig().all_accounts == (
        SimulatedAccount(name=DEFAULT_ACCOUNT, api_key="demo-key"),
    )
    assert SimulatorConfig(api_key="x").all_accounts == (
        SimulatedAccount(name="default", api_key="x"),
    )


def test_declared_accounts_follow_the_default_account_in_order() -> None:
    config = SimulatorConfig(api_key="main-key", accounts=(EU, US))

    assert [account.name for account in config.all_accounts] == ["default", "eu", "us"]


def test_each_key_selects_its_account_and_any_other_key_selects_none() -> None:
    config = SimulatorConfig(api_key="main-key", accounts=(EU, US))

    assert config.account_for_key("main-key") == "default"
    assert config.account_for_key("eu-key") == "eu"
    assert config.account_for_key("us-key") == "us"
    assert config.account_for_key("EU-KEY") is None
    assert config.account_for_key("") is None
    assert config.account_for_key(None) is None


def test_two_accounts_with_the_same_name_are_refused() -> None:
    with pytest.raises(ValidationError, match="account names must be unique: 'eu'"):
        SimulatorConfig(accounts=(EU, SimulatedAccount(name="eu", api_key="other-key")))


def test_an_account_named_default_is_refused_because_the_first_account_has_that_name() -> None:
    with pytest.raises(ValidationError, match="'default' \\(the account of api_key\\) is used"):
        SimulatorConfig(accounts=(SimulatedAccount(name="default", api_key="other-key"),))


def test_two_accounts_sharing_a_key_are_refused_without_the_key_in_the_message() -> None:
    with pytest.raises(ValidationError, match="keys must be distinct: 'eu' and 'us'") as raised:
        SimulatorConfig(accounts=(EU, SimulatedAccount(name="us", api_key="eu-key")))

    assert "eu-key" not in str(raised.value)


def test_an_account_reusing_the_api_key_of_the_default_account_is_refused() -> None:
    with pytest.raises(ValidationError, match="keys must be distinct: 'default' and 'eu'"):
        SimulatorConfig(api_key="eu-key", accounts=(EU,))


@pytest.mark.parametrize("name", ["", "has space", "a=b", "-leading-dash", "x" * 65])
def test_an_account_name_is_a_short_url_safe_word(name: str) -> None:
    with pytest.raises(ValidationError):
        SimulatedAccount(name=name, api_key="k")


def test_an_account_needs_a_key_and_cannot_be_changed() -> None:
    with pytest.raises(ValidationError):
        SimulatedAccount(name="eu", api_key="")
    with pytest.raises(ValidationError):
        EU.api_key = "changed"  # pyright: ignore[reportAttributeAccessIssue]


def test_an_account_does_not_show_its_key_in_its_repr() -> None:
    assert "eu-key" not in repr(EU)
