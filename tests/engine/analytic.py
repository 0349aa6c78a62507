"""What the analytic-truth tests share: a continuous-calendar scenario, live deals, a run, and
comparisons within K standard errors of the Monte Carlo estimate.

With K = 4.5 a correct engine fails one check with probability ~7e-6 (two-sided normal tail),
so the files are not flaky, while a real bias of a few SE is caught.
"""

from __future__ import annotations

import math
from typing import Any

import simsales

K = 4.5  # tolerance in standard errors for every Monte Carlo comparison


def scenario(name: str, horizon: str, **parts: Any) -> simsales.Scenario:
    """One deal type ``t`` of value 1, a continuous calendar (model time = days) from 2027."""
    data: dict[str, Any] = {
        "name": name,
        "start": "2027-01-01",
        "horizon": horizon,
        "calendar": {"continuous": True},
        "deal_types": {"t": {"value": {"fixed": 1.0}}},
    }
    data.update(parts)
    return simsales.load_dict(data)


def live(
    n: int, stage: str, days: float = 0.0, digits: int = 5, **extra: Any
) -> list[dict[str, Any]]:
    """``n`` live deals of type ``t`` ``days`` into ``stage``."""
    return [
        {"id": f"D{i:0{digits}d}", "type": "t", "stage": stage, "days_in_stage": days, **extra}
        for i in range(n)
    ]


def run(scenario: simsales.Scenario, replications: int, seed: int, **kw: Any) -> simsales.Forecast:
    return simsales.simulate(scenario, replications=replications, seed=seed, progress=False, **kw)


def assert_close(estimate: float, truth: float, se: float, what: str) -> None:
    assert se > 0, f"{what}: zero standard error, the test has no power"
    assert abs(estimate - truth) <= K * se, (
        f"{what}: simulated {estimate:.6g}, analytic {truth:.6g}, "
        f"difference {(estimate - truth) / se:+.2f} SE (tolerance {K} SE = {K * se:.3g})"
    )


def assert_proportion(successes: int, n: int, p: float, what: str) -> None:
    # the normal approximation with the SE under the null, sqrt(p (1 - p) / n)
    assert_close(successes / n, p, math.sqrt(p * (1 - p) / n), what)
