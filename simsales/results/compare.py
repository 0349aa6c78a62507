"""What-if comparison: the base and its variants simulated with common random numbers.

Leadership asks "what if we hire two presales, mitigate the sponsor risk, speed up legal?". Two
independent Monte Carlo runs would drown such differences in noise. Here the base and every
variant run with the same seed and the same number of replications, so replication *i* of each
uses the same child ``SeedSequence`` and, inside it, the same per-deal and per-purpose streams
(simsales.engine.streams): the same deal meets the same luck in every variant, and the
difference of a metric replication by replication isolates the effect of the change.

For every metric (simsales.results.metrics) the comparison gives the base and variant
estimates, the paired difference with a 95% interval, whether that interval excludes zero, and
beside it the half-width two independent runs would have had (simsales.results.paired).

The precision-based early stop is off here: every run has exactly the same replications.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from simsales.engine.options import RunOptions
from simsales.errors import SimsalesError
from simsales.results.forecast import Forecast
from simsales.results.metrics import DATE, Metric, replication_metrics
from simsales.results.paired import Delta, Resamples, paired_mean, paired_quantile, paired_ratio
from simsales.results.schema_version import SCHEMA_VERSION
from simsales.results.simulation import simulate_scenario
from simsales.results.summary import summarize
from simsales.results.views import COMPARISON_TABLE_HTML, view
from simsales.scenario.load import with_overlay
from simsales.scenario.schema import Scenario

__all__ = [
    "DELTA_COLUMNS",
    "Comparison",
    "Variants",
    "compare_scenarios",
    "deltas_between",
    "resolve_variants",
]

log = logging.getLogger(__name__)

Variants = None | Sequence[str] | Mapping[str, Mapping[str, Any] | Scenario]

DELTA_COLUMNS = [
    "name",
    "metric",
    "label",
    "unit",
    "base",
    "variant",
    "difference",
    "ci_low",
    "ci_high",
    "significant",
    "half_width",
    "unpaired_half_width",
]


@dataclass
class Comparison:
    """The base forecast, one forecast per variant, and the paired differences between them.

    ``deltas`` has one row per variant x metric with the columns of :data:`DELTA_COLUMNS`:
    ``name`` (the variant), ``metric`` (e.g. ``revenue:2027Q1``), ``label``, ``unit``, the
    ``base`` and ``variant`` estimates, the paired ``difference`` with its 95% interval
    ``ci_low``/``ci_high``, ``significant`` (the interval excludes 0), the paired ``half_width``
    and the ``unpaired_half_width`` two independent runs would have had. Date metrics (unit
    ``date``) hold calendar days after ``origin``; their difference is in calendar days.
    ``scenarios`` holds the scenarios as simulated: the base under ``""``, each variant by name.
    """

    base: Forecast
    variants: dict[str, Forecast]
    deltas: pd.DataFrame
    seed: int
    replications: int
    origin: date
    scenarios: dict[str, Scenario] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        """``{"base": summary, "variants": [{"name", "summary", "deltas": [...]}]}``.

        ``summary`` is the ``simsales run --json`` summary of each run. In ``deltas``, date
        metrics give ``base``/``variant`` as ISO dates (``null``: after the horizon) and the
        difference and its interval in calendar days; numbers that are not finite are ``null``.
        """
        return {
            "schema_version": SCHEMA_VERSION,
            "base": summarize(self.base).to_json(),
            "variants": [
                {
                    "name": name,
                    "summary": summarize(forecast).to_json(),
                    "deltas": [
                        self._delta_json(row)
                        for row in self.deltas[self.deltas["name"] == name].itertuples()
                    ],
                }
                for name, forecast in self.variants.items()
            ],
        }

    def _delta_json(self, row: Any) -> dict[str, Any]:
        value = self.as_date if row.unit == DATE else _num
        return {
            "metric": row.metric,
            "base": value(row.base),
            "variant": value(row.variant),
            "difference": _num(row.difference),
            "ci_low": _num(row.ci_low),
            "ci_high": _num(row.ci_high),
            "significant": bool(row.significant),
        }

    def as_date(self, days: float) -> str | None:
        """ISO date of a date metric's value (``None`` after the horizon or unknown)."""
        if not math.isfinite(days):
            return None
        return (self.origin + timedelta(days=int(days))).isoformat()

    def __repr__(self) -> str:
        names = ", ".join(self.variants)
        return (
            f"Comparison({self._title()!r}: base vs {names}; {self.replications} paired "
            f"replications, seed {self.seed}; {len(self.deltas)} deltas)"
        )

    def _title(self) -> str:
        return self.base.model.name if self.base.model is not None else "comparison"

    def _repr_html_(self) -> str:
        head = (
            f"<h4>{html.escape(self._title())}: "
            f"{len(self.variants)} variant(s), {self.replications} paired replications, "
            f"seed {self.seed}</h4>"
        )
        return head + view(COMPARISON_TABLE_HTML, self)  # drawn by the report layer


def resolve_variants(base: Scenario, variants: Variants) -> list[tuple[str, Scenario]]:
    """(name, scenario) for each variant asked for; unknown names raise with a did-you-mean."""
    if variants is None:
        if not base.variants:
            raise SimsalesError(
                "the scenario defines no variants: add some under 'variants:', or pass "
                "overlays (compare(..., variants={'name': {...}}), --set PATH=VALUE)"
            )
        variants = list(base.variants)
    if isinstance(variants, str):
        variants = [variants]
    out: list[tuple[str, Scenario]] = []
    if isinstance(variants, Mapping):
        for name, overlay in variants.items():
            scenario = (
                overlay
                if isinstance(overlay, Scenario)
                else with_overlay(base, overlay, name=f"variant {name}")
            )
            out.append((str(name), scenario))
    else:
        for name in dict.fromkeys(variants):  # a name given twice is compared once
            out.append((name, with_overlay(base, name)))
    if not out:
        raise SimsalesError("no variants to compare")
    return out


def compare_scenarios(
    base: Scenario,
    variants: Sequence[tuple[str, Scenario]],
    options: RunOptions,
    *,
    base_forecast: Forecast | None = None,
) -> Comparison:
    """:func:`simsales.api.compare` for scenarios already built.

    Each run is announced on the ``simsales`` logger (INFO). ``base_forecast``: the base
    already simulated with the same replications and seed (it is checked), to save running it
    again.
    """
    n = base.simulation.replications if options.replications is None else options.replications
    seed = base.simulation.seed if options.seed is None else options.seed
    options = options.replace(replications=n, seed=seed)

    def run(label: str, scenario: Scenario) -> Forecast:
        log.info("simulating %s: %d replications, seed %d", label, n, seed)
        return simulate_scenario(scenario, options, precision=None)

    if base_forecast is None:
        base_forecast = run("the base", base)
    forecasts = {name: run(f"variant {name}", scenario) for name, scenario in variants}
    deltas = deltas_between(base_forecast, forecasts, seed)
    return Comparison(
        base=base_forecast,
        variants=forecasts,
        deltas=deltas,
        seed=seed,
        replications=n,
        origin=base.start,
        scenarios={"": base, **dict(variants)},
    )


def deltas_between(base: Forecast, variants: Mapping[str, Forecast], seed: int) -> pd.DataFrame:
    """The tidy deltas table of :class:`Comparison` from forecasts run with the same seeds."""
    if base.model is None:
        raise ValueError("the base forecast has no model; load it with Forecast.load")
    origin = base.model.start
    base_metrics = replication_metrics(base, origin=origin)
    targets = _targets(base)  # every run is judged against the base's plan
    resamples = Resamples(base.replications, seed)
    rows: list[dict[str, Any]] = []
    for name, forecast in variants.items():
        if forecast.replications != base.replications:
            raise SimsalesError(
                f"variant {name!r} has {forecast.replications} replications, the base "
                f"{base.replications}: paired differences need the same replications"
            )
        if int(forecast.provenance["seed"]) != int(base.provenance["seed"]):
            raise SimsalesError(f"variant {name!r} was simulated with another seed than the base")
        metrics = replication_metrics(forecast, targets=targets, origin=origin)
        for key, b in base_metrics.items():
            v = metrics.get(key)
            if v is None:  # e.g. a deal the variant drops, a pool it removes
                continue
            delta = _delta(b, v, resamples)
            rows.append(
                {
                    "name": name,
                    "metric": key,
                    "label": b.label,
                    "unit": b.unit,
                    "base": delta.base,
                    "variant": delta.variant,
                    "difference": delta.difference,
                    "ci_low": delta.ci_low,
                    "ci_high": delta.ci_high,
                    "significant": delta.significant,
                    "half_width": delta.half_width,
                    "unpaired_half_width": delta.unpaired_half_width,
                }
            )
    return pd.DataFrame(rows, columns=DELTA_COLUMNS)


def _targets(forecast: Forecast) -> dict[str, float]:
    assert forecast.model is not None
    return {label: target for label, _, _, target in forecast.model.targets}


def _delta(b: Metric, v: Metric, resamples: Resamples) -> Delta:
    if b.kind == "mean":
        return paired_mean(b.values, v.values)
    if b.kind == "ratio":
        assert b.denominator is not None and v.denominator is not None
        return paired_ratio(b.values, b.denominator, v.values, v.denominator)
    return paired_quantile(b.values, v.values, b.q, resamples)


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None
