"""Small synthetic optimizer instances, built directly (no simulation), for brute-force checks."""

from __future__ import annotations

from datetime import date

import numpy as np

from simsales.optimize.demand import Demand, MonthGrid


def grid(days: list[float], year: int = 2027) -> MonthGrid:
    firsts = tuple(date(year, m + 1, 1) for m in range(len(days)))
    bounds = np.concatenate([[0.0], np.cumsum(days)])
    return MonthGrid(
        labels=tuple(f"{d.year}-{d.month:02d}" for d in firsts),
        firsts=firsts,
        bounds=bounds,
        days=np.asarray(days, dtype=float),
    )


def demand(
    effort: np.ndarray,
    value: list[float],
    days: list[float],
    pools: tuple[str, ...],
    background: np.ndarray | None = None,
    background_value: float = 0.0,
    revenue_in: dict[str, list[float]] | None = None,
) -> Demand:
    effort = np.asarray(effort, dtype=float)
    n_d, n_p, n_m = effort.shape
    return Demand(
        grid=grid(days),
        pools=pools,
        deals=tuple(f"D{d}" for d in range(n_d)),
        effort=effort,
        background=np.zeros((n_p, n_m)) if background is None else np.asarray(background, float),
        value=np.asarray(value, dtype=float),
        background_value=background_value,
        revenue_in={k: np.asarray(v, float) for k, v in (revenue_in or {}).items()},
        background_revenue_in={k: 0.0 for k in (revenue_in or {})},
        win_probability=np.full(n_d, 0.5),
        replications=1,
    )
