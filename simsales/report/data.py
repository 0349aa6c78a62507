"""Everything a report or a plot reads from one Forecast, computed once and on demand.

The chart data (``fan``, ``s_curve``, ``gantt``, ...) are plain DataFrames, so the matplotlib
figures, the interactive HTML charts and the tests all read the same numbers.
"""

from __future__ import annotations

import math
from datetime import timedelta
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from simsales.engine.model import Model
from simsales.i18n import N_, MoneyUnit, Translator, translator
from simsales.results.bottlenecks import Bottlenecks, analyze_bottlenecks, week_bounds
from simsales.results.forecast import Forecast
from simsales.results.funnel import funnel
from simsales.results.risks import risk_summary
from simsales.results.sensitivity import CLOSE_P80, REVENUE, sensitivity
from simsales.results.stats import percentile_interval
from simsales.results.summary import Summary, period_revenue, report_periods, summarize
from simsales.scenario.schema import Scenario

__all__ = ["FAN_QUANTILES", "SCOPES", "ReportData"]

SCOPES = {"deal": N_("scope_deal"), "global": N_("scope_global"), "resource": N_("scope_resource")}
_UNCERTAIN = {"arrivals": N_("unc_arrivals"), "win_odds": N_("unc_win_odds"),
              "duration": N_("unc_duration"), "value": N_("unc_value"),
              "monthly.arrivals": N_("unc_monthly_arrivals"),
              "monthly.win": N_("unc_monthly_win")}  # fmt: skip

FAN_QUANTILES = {"p10": 0.10, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90}


def _quantile(x: np.ndarray, q: float) -> float:
    """The summary's percentile estimate (an observed value: inverted CDF)."""
    return percentile_interval(x, q)[0]


class ReportData:
    """Lazily computed analyses of one forecast, in the scenario's locale."""

    def __init__(self, forecast: Forecast, locale: str | None = None) -> None:
        if forecast.model is None:
            raise ValueError("this forecast has no model; load it with Forecast.load")
        self.forecast = forecast
        self._locale = locale

    @classmethod
    def of(cls, source: ReportData | Forecast) -> ReportData:
        return source if isinstance(source, ReportData) else cls(source)

    # --- inputs ---------------------------------------------------------------------------

    @property
    def model(self) -> Model:
        assert self.forecast.model is not None
        return self.forecast.model

    @cached_property
    def scenario(self) -> Scenario | None:
        """The scenario as simulated (re-validated from provenance), for names and criteria."""
        raw = self.forecast.provenance.get("scenario")
        if raw is None:
            return None
        from simsales.scenario.load import load_dict

        return load_dict(raw, name="provenance.json")

    @property
    def locale(self) -> str:
        if self._locale is not None:
            return self._locale
        return self.scenario.locale if self.scenario is not None else "en"

    @property
    def t(self) -> Translator:
        """The locale's words and formats: ``data.t("key", **values)``, ``data.t.money(x)``."""
        return translator(self.locale)

    @property
    def unit(self) -> MoneyUnit:
        return MoneyUnit(self.locale, self.model.currency)

    def stage_name(self, stage_id: str) -> str:
        i = self.model.stage_ids.index(stage_id)
        return self.model.stage_labels[i]

    def pool_name(self, pool_id: str) -> str:
        if self.scenario is not None and pool_id in self.scenario.resources:
            return self.scenario.resources[pool_id].name or pool_id
        return pool_id

    def risk_name(self, risk_id: str) -> str:
        if self.scenario is not None:
            for r in self.scenario.risks:
                if r.id == risk_id:
                    return r.name or r.id
        return risk_id

    def type_name(self, type_id: str) -> str:
        for t in self.model.types:
            if t.name == type_id:
                return t.label
        return type_id

    def exit_criteria(self, stage_id: str) -> tuple[str, ...]:
        if self.scenario is None:
            return ()
        for s in self.scenario.stages:
            if s.id == stage_id:
                return s.exit_criteria
        return ()

    # --- analyses -------------------------------------------------------------------------

    @cached_property
    def summary(self) -> Summary:
        return summarize(self.forecast)

    @cached_property
    def bottlenecks(self) -> Bottlenecks:
        return analyze_bottlenecks(self.forecast)

    @cached_property
    def funnel(self) -> pd.DataFrame:
        return funnel(self.forecast)

    @cached_property
    def sensitivity(self) -> pd.DataFrame:
        return sensitivity(self.forecast)

    @cached_property
    def risks(self) -> pd.DataFrame:
        return risk_summary(self.forecast)

    # --- chart data -----------------------------------------------------------------------

    @cached_property
    def fan(self) -> pd.DataFrame:
        """Per quarter inside the horizon: revenue quantiles over replications, and the target."""
        targets = {label: amount for label, _, _, amount in self.model.targets}
        rows = []
        for label, t0, t1, _ in report_periods(self.model):
            if "Q" not in label:
                continue
            x = period_revenue(self.forecast, t0, t1)
            row: dict[str, Any] = {"period": label, "mean": float(x.mean())}
            row.update({k: _quantile(x, q) for k, q in FAN_QUANTILES.items()})
            target = targets.get(label, math.nan)
            row["target"] = target
            row["target_probability"] = (
                float(np.mean(x >= target)) if target == target else math.nan
            )
            rows.append(row)
        return pd.DataFrame(rows)

    @cached_property
    def s_curve(self) -> pd.DataFrame:
        """Cumulative won revenue at each week's end: quantiles over replications."""
        mondays, bounds = week_bounds(self.model)
        d = self.forecast.deals
        won = d[d["outcome"] == "won"]
        first = int(self.forecast.provenance.get("first_replication", 0))
        n = self.forecast.replications
        ends = bounds[1:]
        # revenue of each replication won by each week end (the close day is before it)
        per_week = np.zeros((n, len(ends)))
        close_day = self.model.calendar.end_day(won["decision_t"].to_numpy())
        week = np.searchsorted(ends, close_day, side="right")
        inside = week < len(ends)
        np.add.at(
            per_week,
            (won["replication"].to_numpy()[inside] - first, week[inside]),
            won["revenue"].to_numpy()[inside],
        )
        cumulative = np.cumsum(per_week, axis=1)
        week_end = [min(m + timedelta(days=6), self.model.horizon) for m in mondays]
        out = pd.DataFrame({"date": week_end[: len(ends)], "t": ends})
        for k, q in FAN_QUANTILES.items():
            out[k] = [_quantile(cumulative[:, j], q) for j in range(len(ends))]
        out["mean"] = cumulative.mean(axis=0)
        return out

    @cached_property
    def cumulative_targets(self) -> pd.DataFrame:
        """Targets of periods that begin at the start: comparable with the S-curve."""
        rows = [
            {
                "period": label,
                "t1": t1,
                "date": self.model.calendar.to_date(max(t1 - 1, 0.0)),
                "target": amount,
            }
            for label, t0, t1, amount in self.model.targets
            if t0 <= 0 < t1
        ]
        return pd.DataFrame(rows, columns=["period", "t1", "date", "target"])

    @cached_property
    def gantt(self) -> pd.DataFrame:
        """One row per live deal, in pipeline order: close-date percentiles and what it needs."""
        columns = ["deal", "name", "customer", "type", "stage", "value", "win_probability",
                   "close_p10", "close_p50", "close_p90", "open_probability"]  # fmt: skip
        s = self.summary.deals
        if not len(s):  # no live pipeline: only new deals
            return pd.DataFrame(columns=[*columns, "stage_name", "exit_criteria", "label"])
        out = s[columns].copy()
        out["stage_name"] = [self.stage_name(x) for x in out["stage"]]
        out["exit_criteria"] = [self.exit_criteria(x) for x in out["stage"]]
        out["label"] = [
            f"{d} · {c}" if c else (f"{d} · {n}" if n != d else d)
            for d, c, n in zip(out["deal"], out["customer"], out["name"], strict=True)
        ]
        return out

    @cached_property
    def utilization(self) -> pd.DataFrame:
        """Pool x week utilization (rows in the scenario's pool order)."""
        w = self.bottlenecks.weekly
        table = w.pivot(index="pool", columns="week_start", values="utilization")
        return table.reindex(list(self.model.pool_ids))

    def output_label(self, output: str) -> str:
        if output == REVENUE:
            return self.t("out_revenue")
        if output == CLOSE_P80:
            return self.t("out_close_p80")
        return self.t("out_revenue_period", period=self.t.period(output.split(":", 1)[1]))

    def input_label(self, name: str) -> str:
        kind, _, rest = name.partition(":")
        if kind == "duration":
            return self.t("in_duration", stage=self.stage_name(rest))
        if kind == "risk":
            return self.t("in_risk", risk=self.risk_name(rest))
        if kind == "arrivals":
            return self.t("in_arrivals", type=self.type_name(rest.split("#", 1)[0]))
        if name == "value:live_pipeline":
            return self.t("in_value")
        if kind == "uncertainty":  # 'win_odds' or 'win_odds:TYPE'
            what, _, type_ = rest.partition(":")
            label = self.t("in_uncertainty", what=self.t(_UNCERTAIN[what]))
            return f"{label} ({self.type_name(type_)})" if type_ else label
        return name

    @cached_property
    def outputs(self) -> list[str]:
        """Sensitivity outputs in display order: target periods, total revenue, P80 close."""
        present = list(dict.fromkeys(self.sensitivity["output"]))
        order = [f"{REVENUE}:{label}" for label, *_ in self.model.targets]
        order += [REVENUE, CLOSE_P80]
        return [o for o in order if o in present]
