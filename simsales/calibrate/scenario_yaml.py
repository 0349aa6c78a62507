"""A calibration as a scenario: plain data, and commented YAML where every fitted number says
how many observations it rests on (and its 95% interval where one is meaningful).

The YAML is built with ruamel's round-trip types so the comments are real YAML comments, then
checked with :func:`simsales.load` before it replaces the target file (written atomically).
"""

from __future__ import annotations

import copy
import io
import math
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from simsales.calibrate.fit import Drift, EmpiricalFit, RateFit
from simsales.errors import ScenarioError, SimsalesError
from simsales.io.outputs import Output, write_text
from simsales.scenario.schema import MONTHS

if TYPE_CHECKING:  # the Calibration calls this module to write itself
    from simsales.calibrate.calibrate import Calibration, ExitFit
    from simsales.calibrate.hazard_fit import HazardFit

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


def _exits(exits: tuple[ExitFit, ...], *, shares_only: bool = False) -> CommentedSeq:
    """A stage's exits; each comment says how many visits left that way and how its time was
    fitted. A deal type's override repeats the times with its own (shrunk) shares."""
    out = CommentedSeq()
    for k, e in enumerate(exits):
        # a copy per use: the YAML has no anchors and aliases
        after = copy.deepcopy(e.time.spec)
        out.append(_flow({"to": e.to, "p": round(e.p, 6), "after": after}))
        if not shares_only:
            out.yaml_add_eol_comment(
                f"{_n(e.events)} left this way (Aalen-Johansen share); time: {e.time.note}, "
                f"median {e.time.median:,.1f} d, P90 {e.time.p90:,.1f} d",
                k,
            )
    # exact sum of 1 for the loader
    if len(out):
        rest = 1.0 - math.fsum(float(x["p"]) for x in list(out)[:-1])
        out[-1]["p"] = max(round(rest, 9), 0.0)
    return out


def _hazards(hz: HazardFit) -> CommentedMap:
    """A stage's ``hazards:``: age band edges, rows by month of the quarter (one row when the
    fit is by age alone), rates per day."""
    out = CommentedMap()
    out["ages"] = _flow_seq(list(hz.ages))
    by_month = math.isfinite(hz.pseudo)
    if by_month:
        out["by"] = "month_of_quarter"
    exits = CommentedSeq()
    for k, to in enumerate(hz.exits):
        rows = CommentedSeq(
            _flow_seq([band[k] for band in row]) for row in hz.rates[: None if by_month else 1]
        )
        exits.append(CommentedMap([("to", to), ("per_day", rows)]))
    out["exits"] = exits
    return out


def _flow_seq(items: list[Any]) -> CommentedSeq:
    s = CommentedSeq(items)
    s.fa.set_flow_style()
    return s


MONTHLY_KEYS = {"arrivals": "arrivals", "win_odds": "win"}  # a drift's key in monthly:


def _uncertainty(drifts: dict[str, Drift]) -> CommentedMap:
    """``uncertainty:`` multipliers, once per run and (``monthly:``) once per month; each
    comment gives the sample size, the parts of the variance of the log and the dispersion
    test that decided whether the drift counts."""
    out, monthly = CommentedMap(), CommentedMap()
    for key, drift in drifts.items():
        spec = drift.spec()
        if spec is not None:
            out[key] = _flow(spec)
            whole = drift.between_var * drift.horizon_months  # a month's (Drift.over)
            between = "" if drift.monthly else _between(drift, whole)
            out.yaml_add_eol_comment(
                f"n = {_n(drift.n)}; variance of the log: sampling {drift.sampling_var:.2g}"
                f"{between}",
                key,
            )
        month = drift.monthly_spec()
        if month is not None:
            name = MONTHLY_KEYS[key]
            monthly[name] = _flow(month)
            monthly.yaml_add_eol_comment(
                f"variance of the log{' of the chance to win' if name == 'win' else ''}:"
                + _between(drift, drift.monthly_var).removeprefix(" +"),
                name,
            )
    if len(monthly):
        out["monthly"] = monthly
    return out


def _between(drift: Drift, var: float) -> str:
    """The between-month part of a comment: ``var`` over a run's months where it is drawn
    once per run (Drift.over), the test that counted it, or that there is none."""
    mean = (
        f" / {drift.horizon_months:.3g} months run"
        if drift.horizon_months > 1 and var > 0 and not drift.monthly
        else ""
    )
    if drift.statistic == "prior":
        return (f" + between months {var:.2g}{mean}, a prior (too few whole months of "
                "decisions to measure it)")  # fmt: skip
    if drift.periods and math.isfinite(drift.chi2):
        return (f" + between months {var:.2g}{mean} (over {drift.periods} months; "
                f"{drift.test_note})")  # fmt: skip
    return " (sampling only)"


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
            f"days, whatever the exit (each exit has its own time below); {how} on "
            f"{_n(d.n_done)} finished + {_n(d.n_open)} still open (right-censored), "
            f"{_n(d.n_truncated)} left-truncated; median {d.median:.1f} d, 95% CI "
            f"[{lo:.1f}, {hi:.1f}]"
        )
        km = s.observed
        if km is not None and km is not d:  # the lognormal's median, and the data's own
            klo, khi = km.median_interval
            note += f" (Kaplan-Meier median {km.median:.1f} d [{klo:.1f}, {khi:.1f}])"
        item.yaml_add_eol_comment(note, "duration")
        hz = s.hazards
        if hz is not None and hz.chosen:
            item["hazards"] = _hazards(hz)
            item.yaml_add_eol_comment(
                f"{hz.note}; the age-based exits it replaced: "
                + ", ".join(f"{e.to} {e.p:.3f}" for e in s.exits),
                "hazards",
            )
        else:
            item["exits"] = _exits(s.exits)
            if hz is not None:
                item.yaml_add_eol_comment(hz.note, "exits")
        item["stale"] = "lost"
        if "exits" in item and math.isfinite(s.longest):
            # a fitted time's tail goes on past the data's horizon: the live deals there too;
            # a stage every deal left within the clock's step (a day, a minute) lasts that step
            step = 1.0 if c.history.date_only else 1 / 1440
            item["stale_from"] = round(max(float(s.longest), step), 3)
        item.yaml_add_eol_comment(
            f"live deals in it longer than any deal ever stayed ({s.longest:,.1f} d) are lost"
            + (f"; {s.stale:,} open deals are" if s.stale else ""),
            "stale_from" if "stale_from" in item else "stale",
        )
        cycle = c.won_cycle
        # calendar hazards already hold the month's won share: no won_season on top
        won_exit = "hazards" not in item and any(e.to == "won" for e in s.exits)
        if cycle is not None and cycle.form != "none" and won_exit:
            item["won_season"] = _flow({cycle.form: [round(f, 4) for f in cycle.factors]})
            item.yaml_add_eol_comment(f"won share of decisions by {cycle.note}", "won_season")
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
        if len(c.groups) > 1 and g.exits:
            st = CommentedMap()
            for s in c.stages:
                if s.id not in g.exits or (s.hazards is not None and s.hazards.chosen):
                    continue  # a type's exits would replace the stage's calendar hazards
                r = g.advance[s.id]
                over = CommentedMap()
                over["exits"] = _exits(g.exits[s.id], shares_only=True)
                st[s.id] = over
                st.yaml_add_eol_comment(
                    _rate_note(r, "towards a win")
                    + f"; shares shrunk to Beta({r.prior_alpha:.1f}, {r.prior_beta:.1f})",
                    s.id,
                )
            if st:
                t["stages"] = st
        mine = _uncertainty(g.uncertainty)
        if len(mine):
            t["uncertainty"] = mine
        types[g.id] = t
    arrivals = CommentedSeq()
    pattern = c.pattern
    for g in c.groups:
        entries = g.entry or {c.arrival_stage: g.arrivals}
        factor = c.arrival_factor if g.arrival_factor is None else g.arrival_factor
        trend = (pattern.trend if pattern is not None else 0.0) if g.trend is None else g.trend
        for stage, a in sorted(entries.items(), key=lambda kv: c.history.stages.index(kv[0])):
            row: dict[str, Any] = {"type": g.id, "per_month": _p(a.per_month * factor),
                                   "stage": stage}  # fmt: skip
            if trend:
                row["trend"] = round(trend, 5)
            if pattern is not None and pattern.month_factor:
                row["seasonality"] = {
                    MONTHS[m - 1]: round(f, 4) for m, f in sorted(pattern.month_factor.items())
                }
            arrivals.append(_flow(row))
            arrivals.yaml_add_eol_comment(
                f"{_n(a.count)} entered {stage} in {a.exposure_months:.2f} months"
                + (
                    f" ({a.per_month:.2f} a month, 95% CI [{a.low:.2f}, {a.high:.2f}]), "
                    f"x{factor:.3f} for the trend / cycle at the start: 95% CI "
                    f"[{a.low * factor:.2f}, {a.high * factor:.2f}]"
                    + (" (this type's own trend: the types' differ)" if g.trend is not None
                       else "")
                    if factor != 1
                    else f"; 95% CI [{a.low:.2f}, {a.high:.2f}]"
                ),
                len(arrivals) - 1,
            )  # fmt: skip
    uncertainty = _uncertainty(c.uncertainty)
    pipeline = CommentedSeq()
    for deal in c.pipeline:
        pipeline.append(_flow({k: v for k, v in deal.items() if not k.startswith("_")}))
    doc["stages"] = stages
    doc["deal_types"] = types
    if len(arrivals):
        doc["arrivals"] = arrivals
    if len(uncertainty):
        doc["uncertainty"] = uncertainty
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
        "- exits: where and when visits left each stage (won, lost, a later stage, an earlier",
        "  one), estimated together by the Aalen-Johansen cumulative incidence with open visits",
        "  right-censored and late entry; each exit's time is empirical unless a lognormal has a",
        "  lower AIC and a plausible tail (a P90 at most twice the longest time ever seen);",
        "- hazards (a stage's `hazards:`, by age and month of the quarter, at the stage's",
        "  load) replace a stage's exits only when, fitted on the history known three months",
        "  (or two, one) before the as-of date, they predicted the exits of those last months",
        "  better than age alone or age with a won share by month (censored log-likelihood,",
        "  by more than 8 nats); refitted on everything, each cell shrunk towards the",
        "  age-only rate, or that rate split by its month's shares (the prior, its strength,",
        "  a recency half-life and the load elasticity chosen by the same held-out score: a",
        "  month's rates times (its open visits / today's) ** -elasticity, 1 for a team that",
        "  decides as many deals however many are open, so the rates are today's pace); the",
        "  stage then has no won_season and no per-type exits;",
        "- visits that outlast every exit ever seen from a stage are counted as lost (stale);",
        "- exit shares per type: shrunk towards the stage's pooled shares",
        "  (" + "; ".join(f"{k}: {v}" for k, v in c.priors.items()) + ");",
        "- values: lognormal fitted to won deals' values per type;",
        f"- arrivals: deals opened per month and entry stage from {c.arrivals_from} to {c.as_of};",
        f"  pattern: {c.pattern.note if c.pattern else 'constant (no whole month)'};",
        "- won_season: the won share of each month's decisions by "
        + (c.won_cycle.note if c.won_cycle else "none")
        + ";",
        "- recent level of winning: "
        + (
            f"in the last {c.win_shift.months} months (from {c.win_shift.since}) deals went "
            f"forward {c.win_shift.forward:.2f}x and were lost {c.win_shift.lost:.2f}x as often "
            f"as the exit rates expect (z = {c.win_shift.z:+.1f}): each age-based stage's odds "
            "of going forward set at their own recent level, shrunk towards the stages' mean;"
            if c.win_shift
            else "as the history's (no lasting change of the odds of going forward found at"
            " 0.01, or fewer than nine whole months to test one);"
        ),
        "- uncertainty: multipliers, lognormal of mean 1. Once per replication: variance of",
        "  the log = sampling variance of the pooled estimate (win odds: binomial",
        "  1 / (N p (1 - p)) of the decided deals; values: of each type's lognormal mean, in its",
        "  deal type's uncertainty). Drawn afresh every month (monthly: arrivals, and win on",
        "  the chance to win): the between-month variance beyond Poisson / binomial noise",
        "  (method of moments), counted only when a dispersion test rejects homogeneous months",
        "  at 1% (Pearson chi-square on months - fitted parameters df: the trend and cycle",
        "  levels of arrivals, the won_season levels), else 0; with too few whole months of",
        "  decisions to measure it, the chance to win's takes a prior (log-odds sd 1). Values'",
        "  between-month variance (F test of the months' mean log value) is in their once-per-",
        "  run multiplier, divided by the run's months (the mean of independent months);",
        f"- no people pools: the export has no staffing data; {c.agents_active} agents were",
        f"  active (a deal opened in the last 90 days or one open at {c.as_of}), and an agent",
        "  works many deals at once, so they are not modelled as a constraint.",
        "",
        f"Data: {h.report.rows_read:,} rows read, {h.report.deals_used:,} deals used"
        + (
            f"; {len(problems)} kind{'s' if len(problems) != 1 else ''} of data problem "
            "(and notes):"
            if problems
            else "; no data problems (notes below)."
            if h.report.issues
            else "; no data problems."
        ),
        *(f"  {i}" for i in h.report.issues),
    ]
    doc.yaml_set_start_comment("\n".join(header))
    doc.yaml_set_comment_before_after_key(
        "stages", before="\nStages in process order, each with its competing exits."
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
        "calendar days since entering the current stage"
        + (
            " (still in the stage a load put them in: since the load, plus the age at the load"
            " of " + ", ".join(f"{k} {v:,.1f}" for k, v in c.loaded_ages.items()) + " days)"
            if c.loaded_ages
            else ""
        )
        + ";\nvalues missing where the export had none (drawn from the type).",
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
