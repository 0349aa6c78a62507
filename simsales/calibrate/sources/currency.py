"""Conversion of deal values to the scenario currency, the way Salesforce's multi-currency
exports describe it.

``CurrencyType.csv`` (IsoCode, ConversionRate, IsCorporate) gives each currency's static rate
and ``DatedConversionRate.csv`` (IsoCode, ConversionRate, StartDate, NextStartDate) its dated
rates; a rate is the number of units of that currency per one unit of the corporate currency.
A value ``v`` in currency ``c`` is ``v * rate(target) / rate(c)`` in the target currency.

Which date's rate (the rule): a value is converted with the dated rate in force on its close
date (Salesforce's own rule for opportunities: dated rates by close date), or on the day it was
recorded if the close date is later than that (a rate for a future date is not known yet, so an
export cut at an earlier day would not know it either); a currency with no dated rate on that
day uses its static rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simsales.calibrate.sources.parse import parse_numbers, parse_times
from simsales.errors import Problem, ScenarioError

__all__ = ["Rates", "read_rates"]


@dataclass(frozen=True)
class Rates:
    corporate: str
    static: dict[str, float]  # ISO code -> units per corporate unit
    dated: pd.DataFrame = field(default_factory=pd.DataFrame)  # iso, start, rate (sorted)

    def rate(self, iso: str, when: pd.Series) -> pd.Series:
        """Units of ``iso`` per corporate unit on each date (NaN if unknown)."""
        if iso == self.corporate:
            return pd.Series(1.0, index=when.index)
        out = pd.Series(self.static.get(iso, np.nan), index=when.index, dtype="float64")
        d = self.dated[self.dated["iso"] == iso] if len(self.dated) else self.dated
        if len(d):
            starts = d["start"].to_numpy()
            k = np.searchsorted(starts, when.to_numpy(), side="right") - 1
            t = when.to_numpy()
            ok = (k >= 0) & ~pd.isna(t)
            kk = np.clip(k, 0, len(d) - 1)
            inside = ok & (t < d["end"].to_numpy()[kk])
            out = out.where(~inside, d["rate"].to_numpy()[kk])
        return out

    def factors(self, currency: pd.Series, when: pd.Series, target: str) -> pd.Series:
        """Multipliers from each row's currency to ``target`` (NaN where a rate is missing)."""
        out = pd.Series(np.nan, index=currency.index, dtype="float64")
        for iso in pd.unique(currency):
            rows = currency == iso
            w = when[rows]
            out[rows] = self.rate(target, w) / self.rate(str(iso), w)
        return out

    def describe(self, target: str) -> str:
        n = len(self.dated)
        dated = f", {n} dated rates (by close date)" if n else ""
        codes = ", ".join(sorted({*self.static, self.corporate}))
        return f"values converted to {target} from {codes}: corporate {self.corporate}{dated}"


def read_rates(currency_types: Path, dated: Path | None, encoding: str | None) -> Rates:
    """Rates from Salesforce's CurrencyType.csv and (optional) DatedConversionRate.csv."""
    from simsales.calibrate.sources.files import read_table

    ct, _ = read_table(currency_types, encoding)
    need = ("IsoCode", "ConversionRate")
    missing = [c for c in need if c not in ct.columns]
    if missing:
        raise ScenarioError(
            [Problem(f"no column {missing[0]} in the currency table", file=str(currency_types))]
        )
    corp = ct[ct.get("IsCorporate", pd.Series("", index=ct.index)).str.lower() == "true"]
    rates = parse_numbers(ct["ConversionRate"])
    static = {
        str(c).upper(): float(r) for c, r in zip(ct["IsoCode"], rates, strict=True) if c and r > 0
    }
    corporate = (
        str(corp["IsoCode"].iloc[0]).upper()
        if len(corp)
        else next((c for c, r in static.items() if r == 1.0), "USD")
    )
    frame = pd.DataFrame(columns=["iso", "start", "end", "rate"])
    if dated is not None and dated.exists():
        dr, _ = read_table(dated, encoding)
        frame = pd.DataFrame(
            {
                "iso": dr["IsoCode"].str.upper(),
                "start": parse_times(dr["StartDate"]),
                "end": parse_times(dr.get("NextStartDate", pd.Series("", index=dr.index))),
                "rate": parse_numbers(dr["ConversionRate"]),
            }
        )
        frame = frame[frame["start"].notna() & (frame["rate"] > 0)]
        frame["end"] = frame["end"].fillna(pd.Timestamp.max)
        frame = frame.sort_values(["iso", "start"]).reset_index(drop=True)
    return Rates(corporate, static, frame)
