"""A calibration as a scenario: plain data, and commented YAML where every fitted number says
how many observations it rests on (and its 95% interval where one is meaningful).

The YAML is built with ruamel's round-trip types so the comments are real YAML comments, then
checked with :func:`simsales.load` before it replaces the target file (written atomically).
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from simsales.calibrate.calibrate import Calibration
from simsales.calibrate.fit import EmpiricalFit, RateFit
from simsales.errors import ScenarioError, SimsalesError
from simsales.io.outputs import Output, write_text

__all__ = ["scenario_dict", "scenario_yaml", "write_scenario"]


def _p(x: float) -> float:
    return round(float(x), 4)


def _flow(data: dict[str, Any]) -> CommentedMap:
    m = CommentedMap()
    for k, v in data.items():
        m[k] = _flow(v) if isinstance(v, dict) else v
    m.fa.set_flow_style()
    return m


def _rate_note(r: RateFit, what: str) -> str:
    lo, hi = r.interval
    return f"{what} {r.successes:,} of {r.trials:,}; posterior mean, 95% CrI [{lo:.3f}, {hi:.3f}]"


def _n(x: int) -> str:
    return f"{x:,}"


def scenario_dict(c: Calibration) -> dict[str, Any]:
    """The calibrated scenario as plain data (comments dropped)."""
    return _plain(_build(c))


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _build(c: Calibration) -> CommentedMap:
    h = c.history
    rep = h.report
    doc = CommentedMap()
    doc["name"] = f"Calibrated from {Path(c.source).name} as of {c.as_of}"
    doc["description"] = (
        f"Fitted by simsales calibrate from {_n(rep.deals_used)} deals of {Path(c.source).name} "
        f"known at the end of {c.as_of}."
    )
    doc["start"] = c.as_of + timedelta(days=1)
    doc["horizon"] = c.horizon
    doc["currency"] = c.currency
    doc["calendar"] = _flow({"continuous": True})
    doc.yaml_add_eol_comment("CRM dates are calendar days: durations count weekends", "calendar")
    doc["simulation"] = _flow({"replications": 1000, "seed": 0})
    stages = CommentedSeq()
    for s in c.stages:
        item = CommentedMap()
        item["id"] = s.id
        item["name"] = s.name
        d = s.duration
        lo, hi = d.median_interval
        item["duration"] = _flow(d.spec())
        how = "Kaplan-Meier" if isinstance(d, EmpiricalFit) else "censored lognormal ML"
        note = (
            f"days; {how} on {_n(d.n_done)} finished + {_n(d.n_open)} still open "
            f"(right-censored), {_n(d.n_truncated)} left-truncated; median {d.median:.1f} d, "
            f"95% CI [{lo:.1f}, {hi:.1f}]"
        )
        if isinstance(d, EmpiricalFit) and d.tail > 0:
            note += f"; {d.tail:.1%} outlast every finished deal: placed at {d.tail_value:g} d"
        item.yaml_add_eol_comment(note, "duration")
        item["advance"] = _p(s.advance.mean)
        last = s.id == c.stages[-1].id
        item.yaml_add_eol_comment(
            _rate_note(s.advance, "won" if last else "moved on") + "; all types", "advance"
        )
        if s.rework is not None and s.rework_to is not None:
            item["rework"] = _flow({"to": s.rework_to, "p": _p(s.rework.mean)})
            item.yaml_add_eol_comment(_rate_note(s.rework, "went back"), "rework")
        stages.append(item)
    types = CommentedMap()
    for g in c.groups:
        t = CommentedMap()
        t["name"] = g.name
        if g.value is not None:
            t["value"] = _flow(g.value.spec())
            if g.value.n:
                vlo, vhi = g.value.median_interval
                t.yaml_add_eol_comment(
                    f"{c.currency}; {g.value_note}: n = {_n(g.value.n)}, median "
                    f"{g.value.median:,.0f}, 95% CI [{vlo:,.0f}, {vhi:,.0f}]",
                    "value",
                )
            else:
                t.yaml_add_eol_comment(f"{c.currency}; {g.value_note}", "value")
        if len(c.groups) > 1:
            st = CommentedMap()
            for s in c.stages:
                r = g.advance[s.id]
                st[s.id] = _flow({"advance": _p(r.mean)})
                st.yaml_add_eol_comment(
                    _rate_note(r, "won" if s.id == c.stages[-1].id else "moved on")
                    + f"; shrunk to Beta({r.prior_alpha:.1f}, {r.prior_beta:.1f})",
                    s.id,
                )
            t["stages"] = st
        types[g.id] = t
    arrivals = CommentedSeq()
    for i, g in enumerate(c.groups):
        a = g.arrivals
        arrivals.append(
            _flow({"type": g.id, "per_month": _p(a.per_month), "stage": c.arrival_stage})
        )
        arrivals.yaml_add_eol_comment(
            f"{_n(a.count)} opened in {a.exposure_months:.2f} months; 95% CI "
            f"[{a.low:.2f}, {a.high:.2f}]",
            i,
        )
    pipeline = CommentedSeq()
    for deal in c.pipeline:
        pipeline.append(_flow({k: v for k, v in deal.items() if not k.startswith("_")}))
    doc["stages"] = stages
    doc["deal_types"] = types
    if len(arrivals):
        doc["arrivals"] = arrivals
    doc["pipeline"] = pipeline
    _section_comments(doc, c)
    return doc


def _section_comments(doc: CommentedMap, c: Calibration) -> None:
    h = c.history
    problems = h.report.problems
    header = [
        f"Calibrated by `simsales calibrate` from {c.source}",
        f"as of the end of {c.as_of} (the export runs to {c.exported}); deal types by "
        f"{c.by or 'nothing (one type)'}.",
        "",
        "How the numbers were fitted (the comment beside each gives its sample size):",
        *(
            [
                "- durations: one Kaplan-Meier distribution per stage (whole days): deals still",
                "  open are right-censored (not dropped), deals begun before the first close",
                f"  ({h.observed_from.date()}) enter the risk sets late (left truncation);",
            ]
            if c.durations == "empirical"
            else [
                "- durations: one lognormal per stage by censored maximum likelihood; dates are",
                "  known to the day (+-0.5 d), deals still open are right-censored (not dropped),",
                f"  and deals begun before the first close ({h.observed_from.date()}) are",
                "  left-truncated;",
            ]
        ),
        "- duration and outcome are independent here: the engine decides won/lost at the stage's",
        "  end, so rates come from the deals decided so far;",
        "- win / advance rates: Beta posteriors; per type shrunk towards the stage's overall rate",
        "  (" + "; ".join(f"{k}: {v}" for k, v in c.priors.items()) + ");",
        "- values: lognormal fitted to won deals' values per type;",
        f"- arrivals: deals opened per month from {c.arrivals_from} to {c.as_of}, constant rate",
        "  (too little history to fit seasonality);",
        f"- no people pools: the export has no staffing data; {c.agents_active} agents were",
        f"  active (a deal opened in the last 90 days or one open at {c.as_of}), and an agent",
        "  works many deals at once, so they are not modelled as a constraint.",
        "",
        f"Data: {h.report.rows_read:,} rows read, {h.report.deals_used:,} deals used"
        + (
            f"; {len(problems)} kinds of data problem (and notes):"
            if problems
            else "; no data problems (notes below)."
            if h.report.issues
            else "; no data problems."
        ),
        *(f"  {i}" for i in h.report.issues),
    ]
    doc.yaml_set_start_comment("\n".join(header))
    doc.yaml_set_comment_before_after_key(
        "stages", before="\nStages in process order; `advance` of the last one is the win rate."
    )
    doc.yaml_set_comment_before_after_key(
        "deal_types", before="\nOne deal type per " + (c.by or "export") + "."
    )
    if "arrivals" in doc:
        doc.yaml_set_comment_before_after_key(
            "arrivals", before="\nNew deals per calendar month (Poisson)."
        )
    doc.yaml_set_comment_before_after_key(
        "pipeline",
        before=f"\nOpen deals at the end of {c.as_of} ({len(c.pipeline):,}); days_in_stage: "
        "calendar days since entering the current stage;\nvalues missing where the export had "
        "none (drawn from the type).",
    )


def scenario_yaml(c: Calibration) -> str:
    """The calibrated scenario as commented YAML text."""
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096  # one deal per line
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(_build(c), out)
    return out.getvalue()


def write_scenario(c: Calibration, path: str | Path | Output) -> None:
    """Write the scenario atomically, after checking that simsales loads it."""
    from simsales.scenario.load import load

    def check(tmp: Path) -> None:
        try:
            load(tmp)
        except ScenarioError as exc:  # a bug in calibrate, not in the user's data
            raise SimsalesError(
                f"internal error: the calibrated scenario does not load:\n{exc}"
            ) from None

    write_text(path, scenario_yaml(c), check=check)
