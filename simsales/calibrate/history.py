"""A CRM history, cleaned: one row per deal and one row per stage visit.

Dates are ``datetime64`` (``NaT`` where unknown); durations derived from them are in calendar
days. :meth:`History.known_at` cuts the history back to what was known on a past date, which is
what a backtest calibrates on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from simsales.calibrate.quality import DataReport

__all__ = ["DEAL_COLUMNS", "VISIT_COLUMNS", "History"]

# deal: id; line: CSV line of its (first) row; opened: first dated stage entry; closed: date won
# or lost (NaT while open); outcome: won / lost / open; value: contract value (NaN if unknown);
# stage: current stage id (open) or the stage it was closed from.
DEAL_COLUMNS = (
    "deal", "line", "product", "owner", "account", "segment",
    "opened", "closed", "outcome", "value", "stage",
)  # fmt: skip
# exit: advance (to a later stage, or won from it), lost, rework (back to an earlier stage), open
VISIT_COLUMNS = ("deal", "stage", "entered", "left", "exit")


@dataclass(frozen=True)
class History:
    deals: pd.DataFrame
    visits: pd.DataFrame
    stages: tuple[str, ...]  # stage ids in process order
    report: DataReport
    snapshot: pd.Timestamp  # the latest date in the export: what it knows
    observed_from: pd.Timestamp  # the first close / stage exit: before it the export is blind
    stage_names: dict[str, str] = field(default_factory=dict)  # stage id -> label in the CRM
    catalog: dict[str, float] = field(default_factory=dict)  # product -> list price
    currency: str = "USD"
    date_only: bool = True  # timestamps are whole days: durations are known to +-0.5 day

    def known_at(self, as_of: pd.Timestamp | str) -> History:
        """The history as it stood at the end of ``as_of``: later entries, closes and the
        values of deals closed later (their outcome) are removed."""
        t = pd.Timestamp(as_of)
        end = t + pd.Timedelta(days=1)
        deals = self.deals[self.deals["opened"] < end].copy()
        later = deals["closed"] >= end
        deals.loc[later, "closed"] = pd.NaT
        deals.loc[later, "outcome"] = "open"
        deals.loc[later, "value"] = np.nan
        visits = self.visits[self.visits["entered"] < end].copy()
        still = visits["left"] >= end
        visits.loc[still, "left"] = pd.NaT
        visits.loc[still, "exit"] = "open"
        current = (
            visits.sort_values(["deal", "entered"]).groupby("deal", sort=False)["stage"].last()
        )
        deals["stage"] = deals["deal"].map(current).fillna(deals["stage"])
        return replace(self, deals=deals, visits=visits, snapshot=t)

    @property
    def open_deals(self) -> pd.DataFrame:
        return self.deals[self.deals["outcome"] == "open"]
