"""The one retry policy: backoff table, Retry-After, the shared scope, the restart window."""

from __future__ import annotations

import random

import pytest

from s2st_kit.errors import ConfigError, EngineError, ThrottledError
from s2st_kit.retry import RestartBudget, RetryPolicy, retry_call


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(0, 0.1), (1, 0.2), (2, 0.4), (5, 3.2), (6, 5.0), (20, 5.0)]
)
def test_backoff_ceiling_doubles_up_to_the_cap(attempt, ceiling):
    policy = RetryPolicy(base_s=0.1, cap_s=5.0)
    assert policy.ceiling(attempt) == pytest.approx(ceiling)
    waits = [policy.delay(attempt) for _ in range(200)]
    assert 0.0 <= min(waits) and max(waits) <= ceiling  # full jitter: uniform(0, ceiling)
    assert max(waits) > 0.5 * ceiling


@pytest.mark.parametrize(
    ("hint", "expected_min"), [(None, 0.0), (0.05, 0.05), (3.0, 3.0), (60.0, 5.0)]
)
def test_retry_after_hint_raises_the_wait_within_the_cap(hint, expected_min):
    policy = RetryPolicy(base_s=0.0, cap_s=5.0, rng=random.Random(1))
    assert policy.delay(0, hint) == pytest.approx(expected_min)


def test_bad_policies_are_refused():
    with pytest.raises(ConfigError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigError):
        RetryPolicy(budget_s=-1)
    with pytest.raises(ConfigError):
        RestartBudget(window_s=0)


async def test_retry_call_retries_retryable_errors_then_gives_up():
    t, calls = FakeTime(), []

    async def call():
        calls.append(1)
        raise ThrottledError("slow down", retry_after_s=0.5)

    with pytest.raises(ThrottledError):
        await retry_call(call, policy=RetryPolicy(max_attempts=4), sleep=t.sleep, clock=t.clock)
    assert len(calls) == 4
    assert len(t.sleeps) == 3 and all(s >= 0.5 for s in t.sleeps)  # Retry-After honoured


async def test_retry_call_does_not_retry_what_is_not_retryable():
    t, calls = FakeTime(), []

    async def call():
        calls.append(1)
        raise EngineError("bad request")

    with pytest.raises(EngineError):
        await retry_call(call, policy=RetryPolicy(max_attempts=5), sleep=t.sleep, clock=t.clock)
    assert len(calls) == 1 and t.sleeps == []


async def test_time_budget_stops_retrying_before_it_is_exceeded():
    t, calls = FakeTime(), []

    async def call():
        calls.append(1)
        raise ThrottledError("slow down", retry_after_s=4.0)

    policy = RetryPolicy(max_attempts=10, cap_s=5.0, budget_s=10.0)
    with pytest.raises(ThrottledError):
        await retry_call(call, policy=policy, sleep=t.sleep, clock=t.clock)
    assert sum(t.sleeps) <= 10.0 and len(calls) == 3  # 4 s + 4 s, a third wait would pass 10 s


async def test_nested_retries_share_one_budget_instead_of_multiplying():
    """An engine's own retry inside the pipeline's stage retry: 3 calls in all, not 3 × 5."""
    t, calls = FakeTime(), []

    async def engine_call():
        calls.append(1)
        raise ThrottledError("throttled")

    async def engine():  # an engine that retries on its own (5 attempts when used alone)
        return await retry_call(
            engine_call, policy=RetryPolicy(max_attempts=5), sleep=t.sleep, clock=t.clock
        )

    with pytest.raises(ThrottledError):
        await retry_call(engine, policy=RetryPolicy(max_attempts=3), sleep=t.sleep, clock=t.clock)
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(ThrottledError):
        await engine()  # alone, the engine's own policy applies
    assert len(calls) == 5


async def test_scope_ends_with_the_call():
    """A later call starts a fresh budget (the scope does not leak into the next segment)."""
    t, outcomes = FakeTime(), iter([ThrottledError("x"), ThrottledError("x"), "ok"] * 2)

    async def call():
        result = next(outcomes)
        if isinstance(result, Exception):
            raise result
        return result

    policy = RetryPolicy(max_attempts=3)
    assert await retry_call(call, policy=policy, sleep=t.sleep, clock=t.clock) == "ok"
    assert await retry_call(call, policy=policy, sleep=t.sleep, clock=t.clock) == "ok"


@pytest.mark.parametrize(
    ("failures", "allowed"),
    [
        ([10, 20, 30], [True, True, True]),
        ([10, 20, 30, 40], [True, True, True, False]),  # 4 in one window
        ([0, 100, 200, 300, 400, 500, 600], [True] * 7),  # one every 100 s, for ever
        ([0, 1, 2, 121, 122, 123], [True] * 6),  # the first three leave the window
        ([0, 1, 2, 119], [True, True, True, False]),
    ],
)
def test_restart_budget_is_a_sliding_window(failures, allowed):
    budget = RestartBudget(max_restarts=3, window_s=120.0)
    assert [budget.allow(t) for t in failures] == allowed


async def test_an_error_given_up_on_is_marked_spent_for_outer_layers():
    from s2st_kit.retry import mark_spent, retries_spent

    t = FakeTime()

    async def call():
        raise ThrottledError("throttled")

    with pytest.raises(ThrottledError) as info:
        await retry_call(call, policy=RetryPolicy(max_attempts=2), sleep=t.sleep, clock=t.clock)
    assert retries_spent(info.value)
    fresh = ThrottledError("new")
    assert not retries_spent(fresh) and retries_spent(mark_spent(fresh))
