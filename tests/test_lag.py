"""The lag controller's decisions, as a table (pure: no clock, no I/O)."""

from __future__ import annotations

import pytest

from s2st_kit.config import PipelineConfig
from s2st_kit.errors import ConfigError
from s2st_kit.lag import LagController, LagDecision, LagState

CTRL = LagController(max_lag_s=3.0, max_speedup=1.5, catch_up="speed+skip")


# max_lag 3 s: speeding up starts at the set point, 0.75 × 3 = 2.25 s.
@pytest.mark.parametrize(
    ("lag", "duration", "waiting", "source", "decision"),
    [
        (1.0, 3.0, 0.0, None, LagDecision(1.0)),  # well under the target: natural speed
        (2.25, 3.0, 0.0, None, LagDecision(1.0)),  # at the set point, as long as its source
        (2.25, 3.6, 0.0, 3.0, LagDecision(1.2)),  # 1.2x longer than its source: hold the lag
        (1.25, 3.6, 0.0, 3.0, LagDecision(1.0)),  # 1 s of headroom absorbs the extra 0.6 s
        (2.75, 3.0, 0.0, None, LagDecision(3.0 / 2.5)),  # 0.5 s over: won back within 3 s
        (3.0, 3.0, 5.0, None, LagDecision(3.0 / 2.25)),
        (3.5, 3.0, 0.0, None, LagDecision(1.5)),  # 1.25 s over: more than 1.5x can win back
        (2.5, 3.0, 0.0, 1.0, LagDecision(1.5)),  # a short source: the cap
        (5.0, 3.0, 0.0, None, LagDecision(1.5)),  # far behind, nothing waiting: cap, no skip
        (5.0, 3.0, 0.5, None, LagDecision(1.0, skip=True)),  # a backlog it can't absorb: skip
        (5.0, 3.0, 3.0, None, LagDecision(1.5)),  # 2 s over max, 6 s backlog saves 2 s: no skip
        (6.0, 3.0, 3.0, None, LagDecision(1.0, skip=True)),  # 3 s over > 2 s recoverable
        (9.0, 0.0, 0.0, None, LagDecision(1.0)),  # nothing to play
    ],
)
def test_decisions(lag, duration, waiting, source, decision):
    got = CTRL.decide(LagState(lag, duration, waiting, source))
    assert got.skip == decision.skip
    assert got.speed == pytest.approx(decision.speed)


def test_speed_only_never_skips_and_speed_is_monotone_in_the_lag():
    ctrl = LagController(max_lag_s=2.0, max_speedup=1.3, catch_up="speed")
    speeds = [ctrl.decide(LagState(lag / 10, 4.0, 20.0)) for lag in range(0, 200)]
    assert not any(d.skip for d in speeds)
    values = [d.speed for d in speeds]
    assert values == sorted(values) and values[0] == 1.0 and values[-1] == 1.3
    assert all(1.0 <= v <= 1.3 for v in values)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_lag_s": 0.0}, "max_lag_s must be > 0"),
        ({"max_lag_s": -1.0}, "max_lag_s must be > 0"),
        ({"max_speedup": 0.9}, "max_speedup must be between 1.0 and 3.0"),
        ({"max_speedup": 4.0}, "max_speedup must be between 1.0 and 3.0"),
        ({"catch_up": "skip"}, "unknown catch_up 'skip'"),
    ],
)
def test_bad_settings_are_refused_before_a_session(changes, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig(**{"max_lag_s": 3.0, **changes})


def test_no_target_means_no_control():
    assert PipelineConfig().lag_controller() is None
    ctrl = PipelineConfig(max_lag_s=2.5, max_speedup=1.4, catch_up="speed").lag_controller()
    assert ctrl == LagController(2.5, 1.4, "speed")
