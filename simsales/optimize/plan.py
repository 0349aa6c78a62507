"""The Plan: what the optimizer decided, what it proved, and the plan as a scenario overlay.

The overlay is an ordinary what-if (see ``simsales.with_overlay``): headcount per month becomes
each pool's ``capacity`` (the first month) and ``capacity_changes`` (from the first day of each
month where it changes); dropped or unstaffed deals are removed from the pipeline
(``pipeline: {id: null}``); mitigations switch ``mitigated``. Written as YAML, atomically.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from ruamel.yaml import YAML

from simsales.io.outputs import Output, write_text
from simsales.optimize.demand import MonthGrid
from simsales.optimize.glossary import GLOSSARY
from simsales.optimize.solve import Status
from simsales.results.schema_version import SCHEMA_VERSION

__all__ = ["Plan", "capacity_overlay", "drop_overlay", "write_overlay"]


@dataclass
class Plan:
    """A staffing plan and the honest account of how good it is.

    ``objective`` is the expected margin (capacity mode) or expected value of the staffed deals
    (assignment mode) in the scenario's currency; ``bound`` the best the solver proved possible;
    ``gap`` their relative distance (None when unknown). ``status`` is ``optimal`` only when the
    solver proved optimality. ``verification`` is filled by :func:`simsales.optimize.verify`.
    """

    mode: str
    status: Status
    objective: float | None
    bound: float | None
    gap: float | None
    solver: str
    solve_seconds: float
    build_seconds: float
    currency: str
    months: tuple[str, ...] = ()
    headcount: dict[str, list[int]] = field(default_factory=dict)
    base_headcount: dict[str, list[int]] = field(default_factory=dict)
    work_days: dict[str, list[float]] = field(default_factory=dict)
    deals: list[dict[str, Any]] = field(default_factory=list)
    mitigations: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    diagnosis: list[str] = field(default_factory=list)
    overlay: dict[str, Any] = field(default_factory=dict)
    assumptions: dict[str, Any] = field(default_factory=dict)
    verification: Any = None  # a simsales.optimize.verify.Verification
    changes: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # hired / released
    change_cost: float = 0.0  # hiring and release money of the plan (in the objective)
    base_change_cost: float = 0.0  # the same for the scenario's own planned capacity
    churn_penalty: float = 0.0  # the churn preference paid in the solver's objective (not money)
    robust: list[dict[str, Any]] = field(default_factory=list)  # in- vs out-of-sample figures

    @property
    def solved(self) -> bool:
        return self.status in ("optimal", "feasible")

    def plan_json(self) -> dict[str, Any]:
        """The ``plan`` part of ``simsales optimize --json``."""
        out: dict[str, Any] = {
            "mode": self.mode,
            "solver": self.solver,
            "bound": _num(self.bound),
            "solve_seconds": round(self.solve_seconds, 3),
            "build_seconds": round(self.build_seconds, 3),
            "currency": self.currency,
            "assumptions": self.assumptions,
        }
        if self.solved:
            out.update(
                months=list(self.months),
                headcount=self.headcount,
                base_headcount=self.base_headcount,
                work_days=self.work_days,
                deals=self.deals,
                mitigations=self.mitigations,
                assignments=self.assignments,
                changes=self.changes,
                change_cost=self.change_cost,
                churn_penalty=self.churn_penalty,
                overlay=self.overlay,
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """The whole ``simsales optimize --json`` document."""
        verification = self.verification.to_json() if self.verification is not None else None
        return {
            "schema_version": SCHEMA_VERSION,
            "status": self.status,
            "objective": _num(self.objective),
            "gap": _num(self.gap),
            "best": None if self.verification is None else self.verification.best,
            "plan": self.plan_json(),
            "diagnosis": list(self.diagnosis),
            "verification": verification,
            "robust": self.robust,
            "glossary": GLOSSARY,
        }

    def write(self, path: str | Path | Output) -> Path:
        """Write the plan's overlay as YAML (atomically)."""
        if not self.solved:
            raise ValueError(f"no plan to write: the optimizer's status is {self.status}")
        header = (
            f"simsales {self.mode} plan ({self.status}"
            + (f", gap {self.gap:.4%}" if self.gap else "")
            + "): a what-if overlay; apply it with simsales run|compare|report SCENARIO "
            "--overlay THIS_FILE (or simsales.with_overlay(scenario, overlay))"
        )
        if self.verification is not None and self.verification.best == "current":
            header += (
                "\nWARNING: simulated, this plan is worse than the current staffing on the plan "
                "margin; keep the current staffing (see the verification)."
            )
        return write_overlay(self.overlay, path, header)


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def capacity_overlay(
    pools: Sequence[str],
    grid: MonthGrid,
    headcount: npt.NDArray[np.int64],
    base: npt.NDArray[np.int64],
    aligned: Sequence[bool],
) -> dict[str, Any]:
    """``resources`` entries for the pools whose monthly headcount differs from the scenario.

    ``aligned[p]``: the scenario's own capacity changes of pool p fall on month starts, so equal
    monthly numbers mean an equal schedule and the pool can be left out.
    """
    resources: dict[str, Any] = {}
    for p, pool in enumerate(pools):
        row = [int(v) for v in headcount[p]]
        if aligned[p] and np.array_equal(headcount[p], base[p]):
            continue
        changes = [
            {"from": _iso(grid.firsts[m]), "capacity": row[m]}
            for m in range(1, len(row))
            if row[m] != row[m - 1]
        ]
        resources[pool] = {"capacity": row[0], "capacity_changes": changes}
    return {"resources": resources} if resources else {}


def drop_overlay(dropped: Sequence[str]) -> dict[str, Any]:
    return {"pipeline": {d: None for d in dropped}} if dropped else {}


def _iso(d: date) -> str:
    return d.isoformat()


def write_overlay(overlay: dict[str, Any], path: str | Path | Output, header: str = "") -> Path:
    """Dump ``overlay`` as YAML into ``path`` atomically, with the umask's permissions."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    buf = io.StringIO()
    if header:
        buf.write("".join(f"# {line}\n" for line in header.splitlines()))
    yaml.dump(overlay or {}, buf)
    return write_text(path, buf.getvalue())
