"""Per-owner scorecards from a CRM history, each figure set against the owner's team.

Figures per owner (closed deals unless said otherwise):

- ``win_rate``: won / (won + lost);
- ``cycle_days:<stage>``: mean calendar days of the owner's finished visits of the stage;
- ``slip_days``: mean days from the first close date the CRM recorded for a deal to its real
  close (positive: later than first said);
- ``commit_accuracy``: share won of the closed deals the CRM ever showed as ``commit``.

Small samples must not shout: each raw figure ``x_j`` (sampling variance ``s_j^2``: binomial
for shares, the team's pooled within-owner variance over ``n_j`` for means) is shrunk towards
the team's precision-weighted mean ``m`` as ``m + B_j (x_j - m)`` with ``B_j = tau^2 / (tau^2 +
s_j^2)``; the spread ``tau^2`` of the owners' true figures is estimated from the data
(DerSimonian-Laird method of moments, 0 when the owners differ no more than chance says), so
the strength of the shrinkage comes from the data. The team is the owner's ``team`` when at
least two owners share it, else every owner of the export.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.calibrate.history import History

__all__ = ["owner_scorecards", "shrink"]

FloatArray = npt.NDArray[np.float64]
ALL = "(all owners)"
_COLUMNS = ["owner", "team", "metric", "n", "raw", "shrunk", "team_value", "weight"]


def shrink(x: FloatArray, var: FloatArray) -> tuple[FloatArray, float, FloatArray]:
    """(shrunk values, the team mean, the weight ``B_j`` left on each owner's own figure)."""
    ok = np.isfinite(x) & np.isfinite(var)
    shrunk, weight = x.copy(), np.where(ok, 1.0, np.nan)
    if ok.sum() < 2:
        mean = float(x[ok][0]) if ok.any() else math.nan
        return shrunk, mean, weight
    w = 1.0 / np.maximum(var[ok], 1e-12)
    mean = float(np.sum(w * x[ok]) / w.sum())
    q = float(np.sum(w * (x[ok] - mean) ** 2))
    k = int(ok.sum())
    tau2 = max(0.0, (q - (k - 1)) / (w.sum() - np.sum(w**2) / w.sum()))
    b = tau2 / (tau2 + var[ok])
    shrunk[ok] = mean + b * (x[ok] - mean)
    weight[ok] = b
    return shrunk, mean, weight


def _teams(deals: pd.DataFrame) -> pd.Series:
    """owner -> the team its figures are set against."""
    team = deals.groupby("owner")["team"].agg(
        lambda t: t.mode().iloc[0] if t.notna().any() else None
    )
    size = team.map(team.value_counts())
    return team.where(team.notna() & (size >= 2), ALL).astype(str)


def _share_rows(
    metric: str, hits: pd.Series, owners: pd.Series, teams: pd.Series
) -> list[dict[str, object]]:
    """Rows of a 0/1 figure (hits per closed deal, owner per deal), shrunk per team."""
    g = pd.DataFrame({"owner": owners, "hit": hits.astype(float)}).groupby("owner")["hit"]
    n, raw = g.count(), g.mean()
    pooled = float(hits.mean()) if len(hits) else math.nan
    var = pd.Series(pooled * (1 - pooled), index=n.index) / n
    return _rows(metric, n, raw, var, teams)


def _mean_rows(
    metric: str, values: pd.Series, owners: pd.Series, teams: pd.Series
) -> list[dict[str, object]]:
    g = pd.DataFrame({"owner": owners, "x": values}).dropna().groupby("owner")["x"]
    n, raw = g.count(), g.mean()
    within = g.var(ddof=1)
    pooled = float(np.nansum(within * (n - 1)) / max(float((n - 1).clip(lower=0).sum()), 1.0))
    return _rows(metric, n, raw, pooled / n, teams)


def _rows(
    metric: str, n: pd.Series, raw: pd.Series, var: pd.Series, teams: pd.Series
) -> list[dict[str, object]]:
    out = []
    frame = pd.DataFrame({"n": n, "raw": raw, "var": var})
    frame["team"] = teams.reindex(frame.index).fillna(ALL)
    for team, g in frame.groupby("team"):
        shrunk, mean, weight = shrink(g["raw"].to_numpy(float), g["var"].to_numpy(float))
        for k, owner in enumerate(g.index):
            out.append(
                {
                    "owner": owner,
                    "team": team,
                    "metric": metric,
                    "n": int(g["n"].iloc[k]),
                    "raw": float(g["raw"].iloc[k]),
                    "shrunk": float(shrunk[k]),
                    "team_value": mean,
                    "weight": float(weight[k]),
                }
            )
    return out


def owner_scorecards(history: History) -> pd.DataFrame:
    """One row per owner x figure: owner, team, metric, n, raw, shrunk, team_value, weight."""
    deals = history.deals[history.deals["owner"].notna()]
    if deals.empty:
        return pd.DataFrame(columns=_COLUMNS)
    teams = _teams(deals)
    closed = deals[deals["outcome"].isin(["won", "lost"])]
    rows = _share_rows("win_rate", closed["outcome"] == "won", closed["owner"], teams)
    owner_of = deals.set_index("deal")["owner"]
    visits = history.visits[history.visits["deal"].isin(owner_of.index)]
    done = visits[visits["left"].notna()]
    days = (done["left"] - done["entered"]) / pd.Timedelta(days=1)
    for stage in history.stages:
        sel = (done["stage"] == stage).to_numpy()
        if sel.any():
            owners = done.loc[sel, "deal"].map(owner_of)
            rows += _mean_rows(f"cycle_days:{stage}", days[sel], owners, teams)
    first_close = _first_close(history).reindex(closed["deal"]).to_numpy()
    slip = (closed["closed"].to_numpy() - first_close) / np.timedelta64(1, "D")
    rows += _mean_rows("slip_days", pd.Series(slip, index=closed.index), closed["owner"], teams)
    committed = _ever_commit(history, closed)
    if committed.any():
        c = closed[committed]
        rows += _share_rows("commit_accuracy", c["outcome"] == "won", c["owner"], teams)
    return pd.DataFrame(rows, columns=_COLUMNS)


def _first_close(history: History) -> pd.Series:
    """deal -> the first expected close date recorded (the deal's own field without snapshots)."""
    snaps = history.snapshots.dropna(subset=["expected_close"])
    first = snaps.sort_values("at", kind="stable").groupby("deal")["expected_close"].first()
    own = history.deals.set_index("deal")["expected_close"].dropna()
    return first.combine_first(own).astype("datetime64[ns]")


def _ever_commit(history: History, closed: pd.DataFrame) -> npt.NDArray[np.bool_]:
    snaps = history.snapshots
    ever = set(snaps.loc[snaps["forecast_category"] == "commit", "deal"])
    own = (closed["forecast_category"] == "commit").to_numpy()
    return np.asarray(closed["deal"].isin(ever).to_numpy() | own, dtype=bool)
