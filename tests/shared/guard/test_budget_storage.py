"""The in-memory window's storage: no thread per call, and old entries still leave it."""

from __future__ import annotations

from types import SimpleNamespace

import limits.storage.memory
import pytest

import shared.guard.ratelimit
from shared.guard.ratelimit import InlineExpiryMemoryStorage
from tests.conftest import FakeClock


class _NoTimers:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("a timer thread was started for a call")


def test_calls_start_no_thread_and_the_window_still_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = InlineExpiryMemoryStorage()
    storage.timer.join()  # the one timer limits starts when it is created
    # limits' own storage starts a Timer on a call whenever its last one has fired
    monkeypatch.setattr(limits.storage.memory, "threading", SimpleNamespace(Timer=_NoTimers))
    granted = [storage.acquire_entry("account", 25, 5) for _ in range(200)]
    assert granted.count(True) == 25  # exactly the window's calls, then refusals
    assert granted[:25] == [True] * 25


def test_expired_entries_are_dropped_inline_at_most_once_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wall, steady = FakeClock(1_000_000.0), FakeClock()
    # each module's own view of the time module, so nothing else sees the fake clocks
    monkeypatch.setattr(limits.storage.memory, "time", SimpleNamespace(time=wall))
    monkeypatch.setattr(shared.guard.ratelimit, "time", SimpleNamespace(monotonic=steady))
    storage = InlineExpiryMemoryStorage()
    storage.timer.join()
    for _ in range(10):
        assert storage.acquire_entry("account", 25, 5)
    assert len(storage.events["account"]) == 10
    wall.advance(6)  # every entry has expired
    assert storage.acquire_entry("account", 25, 5)
    assert len(storage.events["account"]) == 11  # the clean-up ran less than a second ago
    steady.advance(InlineExpiryMemoryStorage.EXPIRE_EVERY)
    assert storage.acquire_entry("account", 25, 5)
    assert len(storage.events["account"]) == 2  # the ten expired ones are gone
