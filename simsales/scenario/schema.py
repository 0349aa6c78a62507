"""The scenario language as frozen pydantic models.

Units: durations and delays are working days of the scenario's calendar (plain days when the
calendar is ``continuous``); money is in the scenario's ``currency``; probabilities are in [0, 1].
Every default lives here, beside its field. Cross-references between sections (a stage's needs
name pools, a deal names a type, ...) are checked in :mod:`simsales.scenario.references`, which
reports every broken reference at once.
"""

from __future__ import annotations

import itertools
import math
import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from simsales.errors import invalid
from simsales.scenario.calendar import CalendarSpec
from simsales.scenario.distributions import MAX_MAGNITUDE, DistributionSpec
from simsales.scenario.rules import (
    CompiledExpression,
    Condition,
    RuleSyntaxError,
    parse_number,
)

__all__ = [
    "CATEGORIES",
    "AppliesTo",
    "Arrival",
    "CapacityChange",
    "DealType",
    "Exit",
    "ForecastCategories",
    "Impact",
    "Mitigation",
    "MonthlyUncertainty",
    "PipelineCsv",
    "PipelineDeal",
    "Pool",
    "Precision",
    "QueueDiscipline",
    "Rework",
    "Risk",
    "Rule",
    "RuleEffect",
    "Scenario",
    "ScenarioUncertainty",
    "SimulationSettings",
    "Stage",
    "StageOverride",
    "StaleAfter",
    "Targets",
    "Uncertainty",
    "with_override",
]

Probability = Annotated[float, Field(ge=0.0, le=1.0, description="probability in [0, 1]")]
Money = Annotated[
    float,
    Field(
        ge=0.0,
        le=MAX_MAGNITUDE,  # sums over deals and replications stay finite (see distributions)
        allow_inf_nan=False,
        description="amount in the currency",
    ),
]
Factor = Annotated[
    float, Field(ge=0.0, le=100.0, allow_inf_nan=False, description="multiplier, 1 = unchanged")
]
SeasonFactor = Annotated[
    float, Field(gt=0.0, le=100.0, allow_inf_nan=False, description="factor, 1 = unchanged")
]
ID_PATTERN = r"^[^\s.\[\]{}:,#][^.\[\]{}:,#]*$"
Identifier = Annotated[
    str,
    Field(
        min_length=1,
        max_length=120,
        pattern=ID_PATTERN,
        description="an id: letters (Chinese too), digits, '_' or '-'; no dots, brackets or colons",
    ),
]
PERIOD_PATTERN = r"^\d{4}(-(0[1-9]|1[0-2])|Q[1-4]|H[12])?$"
Period = Annotated[
    str, Field(pattern=PERIOD_PATTERN, description="2027 | 2027H1 | 2027Q3 | 2027-03")
]
EXIT_OUTCOMES = ("won", "lost")  # exit targets that end the deal rather than name a stage
_EXIT_SUM_TOLERANCE = 1e-6
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Frozen(BaseModel):
    """Base of every scenario model: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


class Precision(Frozen):
    """Stop replicating early once every listed 95% half-width is reached."""

    win_rate: float | None = Field(
        None, gt=0, lt=0.5, description="half-width of the portfolio win-rate interval"
    )
    close_p80_days: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="half-width of the portfolio P80 close-time interval, days",
    )
    revenue_rel: float | None = Field(
        None, gt=0, lt=1, description="half-width of the mean-revenue interval, relative to it"
    )


class SimulationSettings(Frozen):
    replications: int = Field(1000, ge=1, le=1_000_000, description="Monte Carlo replications")
    seed: int = Field(0, ge=0, lt=2**63, description="root of all randomness (SeedSequence)")
    precision: Precision | None = None
    batch: int = Field(
        100, ge=10, le=100_000, description="replications per precision check (and per chunk)"
    )


class CapacityChange(Frozen):
    from_: date = Field(alias="from", description="date from which the new capacity holds")
    capacity: int = Field(ge=0, le=100_000, description="people in the pool from that date")


class Pool(Frozen):
    name: str | None = Field(None, description="display name")
    capacity: int = Field(ge=0, le=100_000, description="people in the pool at the start")
    cost_per_day: Money = Field(0.0, description="cost of one person for one working day")
    external: bool = Field(False, description="partners / contractors paid by the day")
    capacity_changes: tuple[CapacityChange, ...] = ()
    min: int | None = Field(None, ge=0, description="optimizer: smallest allowed headcount")
    max: int | None = Field(None, ge=0, description="optimizer: largest allowed headcount")
    hire_lead_months: int = Field(0, ge=0, le=24, description="optimizer: months until a hire")
    release_lead_months: int | None = Field(
        None, ge=0, le=24, description="optimizer: months until a release (default: as hiring)"
    )
    hire_cost: Money | None = Field(
        None, description="optimizer: one-off cost per person hired (recruiting, onboarding)"
    )
    release_cost: Money | None = Field(
        None, description="optimizer: one-off cost per person released (notice, severance)"
    )
    min_tenure_months: int = Field(
        0, ge=0, le=60, description="optimizer: months a new hire stays at least"
    )

    @model_validator(mode="after")
    def _bounds(self) -> Pool:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise invalid(f"min ({self.min}) must be <= max ({self.max})")
        dates = [c.from_ for c in self.capacity_changes]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise invalid(
                "capacity_changes must have distinct dates in increasing order",
                "sort them by 'from'",
            )
        return self


class QueueDiscipline(Frozen):
    """Who gets a free person first when several deals wait for the same pool."""

    priority: str = Field(
        "fifo",
        description="'fifo', 'earliest_target' (target_close first), or a numeric expression "
        "over deal attributes such as 'expected_value'",
    )
    order: Literal["asc", "desc"] = Field("desc", description="for expressions: high first")
    expression: CompiledExpression | None = Field(None, exclude=True)

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: str) -> str:
        if value not in ("fifo", "earliest_target"):
            try:
                parse_number(value)
            except RuleSyntaxError as exc:
                raise invalid(f"{exc.message} at column {exc.column}", exc.hint) from None
        return value

    @model_validator(mode="after")
    def _compile(self) -> QueueDiscipline:
        if self.priority not in ("fifo", "earliest_target"):
            # Frozen model: set the derived field once, right after validation.
            object.__setattr__(self, "expression", parse_number(self.priority))
        return self


class Rework(Frozen):
    to: Identifier = Field(description="an earlier stage to loop back to")
    p: Probability = Field(description="chance of looping back after this stage")


class Exit(Frozen):
    """One way out of a stage: where deals go, how often, and after how long in the stage."""

    to: Identifier = Field(
        description="'won', 'lost', a later stage (a skip when not the next one), or this or "
        "an earlier stage (rework)"
    )
    p: Probability = Field(description="share of the stage's deals that leave this way")
    after: DistributionSpec | None = Field(
        None, description="working days in the stage before leaving this way (default: duration)"
    )


HAZARD_ROWS = {None: 1, "month_of_quarter": 3, "month_of_year": 12}
HazardRate = Annotated[float, Field(ge=0.0, le=1e6, allow_inf_nan=False)]


class HazardExit(Frozen):
    """One way out of a stage with ``hazards``: its rate per day in each (calendar row, age
    band) cell."""

    to: Identifier = Field(description="'won', 'lost', or a stage (as in exits)")
    per_day: tuple[tuple[HazardRate, ...], ...] = Field(
        description="rates per day: one row per calendar row (one row without `by`), one value "
        "per age band"
    )

    @field_validator("per_day", mode="before")
    @classmethod
    def _one_row(cls, v: Any) -> Any:
        # a flat list is the one row of a stage without `by`
        if isinstance(v, list | tuple) and v and not isinstance(v[0], list | tuple):
            return [v]
        return v


class Hazards(Frozen):
    """Competing exits as piecewise-constant hazards: while a deal's time in the stage is in
    age band b (``ages[b]`` to ``ages[b + 1]``) on a day of calendar row r (its month of the
    quarter or of the year, with ``by``), it leaves by exit k at rate ``per_day[r][b]``; the
    exit taken is the one whose rate fires first. A deal that reaches the last age without
    leaving is stale: lost there (or ``stale: {lost_after: N}`` days later). So both the time
    and the way out depend on the age and on the calendar (quarter-end pushes)."""

    ages: tuple[float, ...] = Field(
        min_length=2, description="age band edges in days in the stage: 0 first, increasing"
    )
    by: Literal["month_of_quarter", "month_of_year"] | None = Field(
        None, description="rows of the rates: by month of the quarter (3) or of the year (12)"
    )
    exits: tuple[HazardExit, ...] = Field(min_length=1, description="the ways out and rates")

    @model_validator(mode="after")
    def _shape(self) -> Hazards:
        a = self.ages
        if a[0] != 0 or any(not math.isfinite(y) or y <= x for x, y in itertools.pairwise(a)):
            raise invalid(
                f"hazards.ages must start at 0 and increase, got {list(a)}",
                "e.g. ages: [0, 7, 30, 90] (three bands: under 7 days, 7-30, 30-90)",
            )
        rows, bands = HAZARD_ROWS[self.by], len(a) - 1
        for j, e in enumerate(self.exits):
            shape = [len(r) for r in e.per_day]
            if len(shape) != rows or any(n != bands for n in shape):
                by = f"by: {self.by}" if self.by else "no `by`"
                raise invalid(
                    f"hazards.exits[{j}] ({e.to}): per_day must be {rows} row(s) of {bands} "
                    f"rate(s) ({by}, {len(a)} ages), got rows of {shape}",
                    "give one rate per age band in each row",
                )
        if not any(x > 0 for e in self.exits for r in e.per_day for x in r):
            raise invalid("hazards: every rate is 0, so no deal would ever leave the stage",
                          "give some exit a positive rate")  # fmt: skip
        return self

    def shares(self) -> tuple[list[float], float]:
        """P(each exit) for a deal entering at age 0, and P(reaching the last age), averaged
        over the calendar rows as if each held for the whole visit (what the win-probability
        chain and the report's funnel use; the engine walks the real calendar)."""
        out = [0.0] * len(self.exits)
        last = 0.0
        rows = HAZARD_ROWS[self.by]
        for r in range(rows):
            alive = 1.0
            for b in range(len(self.ages) - 1):
                rates = [e.per_day[r][b] for e in self.exits]
                total = math.fsum(rates)
                if total <= 0:
                    continue
                gone = alive * -math.expm1(-total * (self.ages[b + 1] - self.ages[b]))
                for k, x in enumerate(rates):
                    out[k] += gone * x / total / rows
                alive -= gone
            last += alive / rows
        return out, last


class StaleAfter(Frozen):
    lost_after: float = Field(
        ge=0, le=10_000, description="working days a stale live deal stays open before it is lost"
    )


Stale = Annotated[
    Literal["lost"] | StaleAfter,
    Field(
        description="live deals older than every exit's longest time: 'lost' at once, or "
        "lost_after DAYS more days"
    ),
]


class WonSeason(Frozen):
    """Calendar seasonality of decisions: a factor on the deal's chance to win when it leaves
    the stage in a given calendar month (the month of its decision day).

    The factor multiplies the deal's win factor at that exit, exactly as a risk's win factor
    does: in a stage with ``exits`` a factor c < 1 turns a won exit into a loss with chance
    1 - c, c > 1 turns a lost exit into a win so that the won share becomes min(c p_won,
    p_won + p_lost); in the simple form the last stage's advance chance is multiplied by c.
    The time of the decision is not changed. ``month_of_quarter`` (three factors: first,
    second, third month of a calendar quarter) and ``month_of_year`` (twelve, January first)
    multiply when both are given. Calibration writes factors whose decision-weighted mean is 1,
    so the stage's fitted shares stay its average."""

    month_of_quarter: tuple[SeasonFactor, SeasonFactor, SeasonFactor] | None = Field(
        None, description="factor on the chance to win by month of the quarter: [1st, 2nd, 3rd]"
    )
    month_of_year: tuple[SeasonFactor, ...] | None = Field(
        None,
        min_length=12,
        max_length=12,
        description="factor on the chance to win by calendar month, January first (12 values)",
    )

    @model_validator(mode="after")
    def _some(self) -> WonSeason:
        if self.month_of_quarter is None and self.month_of_year is None:
            raise invalid(
                "won_season needs month_of_quarter or month_of_year",
                "e.g. won_season: {month_of_quarter: [0.9, 0.9, 1.2]}",
            )
        return self


def _exit_shares(exits: tuple[Exit, ...] | None) -> tuple[Exit, ...] | None:
    """Exit shares are a distribution over the ways out: they must sum to 1."""
    if exits is None:
        return None
    if not exits:
        raise invalid("exits must list at least one way out", "e.g. exits: [{to: lost, p: 1}]")
    total = math.fsum(e.p for e in exits)
    if abs(total - 1.0) > _EXIT_SUM_TOLERANCE:
        missing = 1.0 - total
        hint = (
            f"add an exit with p: {missing:.6g} (e.g. to: lost) or raise the shares"
            if missing > 0
            else "lower the shares so that they add up to 1"
        )
        raise invalid(f"exit shares p must sum to 1, got {total:.6g}", hint)
    return exits


def _one_form(
    fields: set[str], exits: tuple[Exit, ...] | None, where: str, hazards: Hazards | None = None
) -> None:
    if hazards is not None and (exits is not None or fields & {"advance", "rework"}):
        given = " and ".join(
            sorted((fields & {"advance", "rework"}) | ({"exits"} if exits else set()))
        )
        raise invalid(
            f"{where} gives both hazards and {given}: use one form",
            f"remove {given}, or remove hazards",
        )
    if exits is not None and fields & {"advance", "rework"}:
        given = " and ".join(sorted(fields & {"advance", "rework"}))
        raise invalid(
            f"{where} gives both exits and {given}: use one form",
            f"move {given} into exits (to: the next stage / to: lost / to: an earlier stage) "
            f"or remove exits; a variant that switches a stage to exits sets {given}: null",
        )


class Stage(Frozen):
    """A milestone stage. Where deals go from it is said either simply (``advance`` and one
    ``rework``) or as competing ``exits``, each with its own share and time in the stage.

    ``stale`` applies to live deals in a stage with exits that have already spent longer than
    any exit's time (every exit's survival is 0 at their age), or at least ``stale_from`` days
    (the longest any deal ever stayed, where a fitted time's tail goes on beyond it): ``lost``
    loses them at once, ``{lost_after: N}`` after N more days; they hold no people meanwhile.

    ``won_season`` makes the chance to win depend on the calendar month in which a deal leaves
    the stage (quarter-end pushes): see :class:`WonSeason`."""

    id: Identifier
    name: str | None = Field(None, description="display name")
    exit_criteria: tuple[str, ...] = Field((), description="goals that end the stage")
    duration: DistributionSpec = Field(description="working days the stage takes once staffed")
    needs: dict[Identifier, Annotated[int, Field(ge=1, le=1000)]] = Field(
        default_factory=dict, description="people held from each pool for the whole stage"
    )
    advance: Probability = Field(1.0, description="chance to advance; otherwise the deal is lost")
    rework: Rework | None = None
    exits: tuple[Exit, ...] | None = Field(
        None, description="competing exits instead of advance/rework; shares p sum to 1"
    )
    hazards: Hazards | None = Field(
        None, description="competing exits as hazards by age and calendar, instead of exits"
    )
    stale: Stale = "lost"
    stale_from: float | None = Field(
        None, gt=0, le=1e6,
        description="days in the stage from which a live deal is stale (see stale), though "
        "an exit's time goes on beyond them; default: once every exit's time has ended",
    )  # fmt: skip
    won_season: WonSeason | None = Field(
        None, description="calendar seasonality of the chance to win when a deal leaves"
    )
    cost: Money = Field(0.0, description="direct cost per visit (travel, demo kit, ...)")

    @field_validator("exits")
    @classmethod
    def _shares(cls, exits: tuple[Exit, ...] | None) -> tuple[Exit, ...] | None:
        return _exit_shares(exits)

    @model_validator(mode="after")
    def _form(self) -> Stage:
        _one_form(self.model_fields_set, self.exits, "the stage", self.hazards)
        if self.exits is None and self.hazards is None and "stale" in self.model_fields_set:
            raise invalid(
                "stale only applies to a stage with exits or hazards",
                "give the stage exits (each with its time `after`) or remove stale",
            )
        if self.exits is None and self.stale_from is not None:
            raise invalid(
                "stale_from only applies to a stage with exits",
                "give the stage exits, or remove stale_from (hazards end at their last age)",
            )
        return self


class StageOverride(Frozen):
    """A deal type's changes to one stage; anything left out keeps the stage's value.

    ``exits`` replace the stage's way out (its advance/rework or exits); ``advance`` or
    ``rework`` replace the stage's exits by the simple form."""

    duration: DistributionSpec | None = None
    needs: dict[Identifier, Annotated[int, Field(ge=1, le=1000)]] | None = None
    advance: Probability | None = None
    rework: Rework | None = None
    exits: tuple[Exit, ...] | None = None
    hazards: Hazards | None = None
    stale: Stale | None = None
    won_season: WonSeason | None = None
    cost: Money | None = None

    @field_validator("exits")
    @classmethod
    def _shares(cls, exits: tuple[Exit, ...] | None) -> tuple[Exit, ...] | None:
        return _exit_shares(exits)

    @model_validator(mode="after")
    def _form(self) -> StageOverride:
        given = {k for k in ("advance", "rework") if getattr(self, k) is not None}
        _one_form(given, self.exits, "the override", self.hazards)
        return self


class Uncertainty(Frozen):
    """Multipliers (mean about 1) drawn once per replication: what the history cannot pin down.

    Each replication draws every multiplier from its own random stream, keyed by its name, so
    variants keep common random numbers."""

    arrivals: DistributionSpec | None = Field(None, description="multiplies every arrival rate")
    win_odds: DistributionSpec | None = Field(
        None, description="multiplies the odds of the exits towards a win (to won or forward)"
    )
    duration: DistributionSpec | None = Field(None, description="multiplies every time in stage")
    value: DistributionSpec | None = Field(None, description="multiplies every deal value")


class MonthlyUncertainty(Frozen):
    """Multipliers (mean about 1) drawn afresh for every calendar month of a replication: how
    much one month differs from another beyond the level's error (the once-per-replication
    multipliers). Month by month they are independent, so a month's results carry all of it
    and a quarter's a third: one multiplier for the whole run would give every month the
    quarter's spread, or the quarter every month's.

    Each month's draw has its own stream, keyed by the name and the month (``2025-03``), so
    variants keep common random numbers even where they start or end in another month."""

    arrivals: DistributionSpec | None = Field(
        None, description="multiplies the arrival rates of its month"
    )
    win: DistributionSpec | None = Field(
        None,
        description="multiplies the chance to win of the decisions in its month (as a "
        "stage's won_season does, at every stage)",
    )


class ScenarioUncertainty(Uncertainty):
    """The scenario's multipliers: once per replication, and (``monthly:``) once per month."""

    monthly: MonthlyUncertainty = Field(
        default_factory=MonthlyUncertainty, description="multipliers drawn for every month"
    )


def with_override(stage: Stage, override: StageOverride | None) -> Stage:
    """The stage as a deal type sees it: the override's values replace the stage's, and a way
    out given in one form (exits, or advance/rework) replaces the stage's other form."""
    if override is None:
        return stage
    update: dict[str, Any] = {k: v for k, v in override if v is not None}
    if override.hazards is not None:
        update |= {"advance": 1.0, "rework": None, "exits": None, "stale_from": None}
    elif override.exits is not None:
        update |= {"advance": 1.0, "rework": None, "hazards": None}
    elif override.advance is not None or override.rework is not None:
        update |= {"exits": None, "hazards": None, "stale_from": None}
    return stage.model_copy(update=update)


class DealType(Frozen):
    name: str | None = Field(None, description="display name")
    value: DistributionSpec | None = Field(None, description="contract value when not given")
    margin: Probability = Field(1.0, description="share of the value that is gross margin")
    stages: dict[Identifier, StageOverride] = Field(default_factory=dict)
    skip: tuple[Identifier, ...] = Field((), description="stages this type never goes through")
    uncertainty: Uncertainty = Field(
        default_factory=Uncertainty, description="multipliers of this type (times the global ones)"
    )


CATEGORIES = ("commit", "best_case", "pipeline", "omitted")
RepCategory = Literal["commit", "best_case", "pipeline", "omitted"]


class PipelineDeal(Frozen):
    id: Identifier
    name: str | None = None
    customer: str | None = None
    type: Identifier
    stage: Identifier = Field(description="current stage")
    days_in_stage: float = Field(0.0, ge=0, le=10_000, description="working days spent so far")
    value: Money | None = Field(None, description="contract value; else drawn from the type")
    target_close: date | None = Field(
        None, description="the rep's expected close date (also the 'earliest_target' queue key)"
    )
    owner: str | None = Field(None, description="the rep who owns the deal")
    team: str | None = Field(None, description="the owner's team (roll-ups, team quotas)")
    region: str | None = Field(None, description="sales region (roll-ups)")
    probability: Probability | None = Field(
        None, description="the rep's own win probability, shown beside the simulated one"
    )
    forecast_category: RepCategory | None = Field(
        None, description="the rep's own forecast category, shown beside the simulated one"
    )


class PipelineCsv(Frozen):
    """Live deals from a CSV file (path relative to the scenario file)."""

    csv: str = Field(min_length=1)
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="deal field -> CSV column, for the columns named differently",
    )


class Arrival(Frozen):
    id: Identifier | None = Field(
        None, description="names the source and its new deals (default: the deal type)"
    )
    type: Identifier
    per_month: float | None = Field(
        None, ge=0, le=100_000, description="mean new deals per calendar month"
    )
    per_day: float | None = Field(
        None, ge=0, le=10_000, description="or: mean new deals per (working) day, a steady rate"
    )
    seasonality: dict[str, Factor] = Field(
        default_factory=dict, description="month (Jan..Dec) -> multiplier of per_month"
    )
    trend: float = Field(
        0.0,
        gt=-1.0,
        le=1.0,
        allow_inf_nan=False,
        description="relative change of the rate per month from start, compounded (0.03 = +3%)",
    )
    stage: Identifier | None = Field(None, description="stage new deals start in (the first)")
    customer: str | None = None
    window: tuple[date, date] | None = Field(None, description="arrivals only between the dates")

    @model_validator(mode="after")
    def _one_rate(self) -> Arrival:
        if (self.per_month is None) == (self.per_day is None):
            raise invalid("give exactly one of per_month and per_day", "e.g. per_month: 2.5")
        return self

    @field_validator("seasonality")
    @classmethod
    def _months(cls, value: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, factor in value.items():
            month = str(key).strip().title()[:3]
            if month not in MONTHS:
                raise invalid(f"unknown month {key!r}", f"use one of {', '.join(MONTHS)}")
            out[month] = factor
        return out


class Impact(Frozen):
    delay: DistributionSpec | None = Field(None, description="working days the deal is held up")
    win_factor: Factor | None = Field(None, description="multiplies the deal's chance to win")
    value_factor: Factor | None = Field(None, description="multiplies the deal's value")
    lost: bool = Field(False, description="the deal is lost outright")
    capacity: int | None = Field(None, ge=-100_000, le=100_000, description="resource: +/- people")
    duration: DistributionSpec | None = Field(None, description="resource: working days it lasts")


class Mitigation(Frozen):
    cost: Money = Field(description="per exposed deal (deal scope) or once (global, resource)")
    p: Probability | None = Field(None, description="probability once mitigated")
    impact: Impact | None = Field(None, description="impact once mitigated")


class AppliesTo(Frozen):
    type: tuple[Identifier, ...] = ()
    stage: tuple[Identifier, ...] = ()
    customer: tuple[str, ...] = ()
    when: Condition | None = None

    @model_validator(mode="before")
    @classmethod
    def _scalars_to_lists(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: [v] if k in ("type", "stage", "customer") and isinstance(v, str) else v
                for k, v in data.items()
            }
        return data


class Risk(Frozen):
    id: Identifier
    name: str | None = None
    scope: Literal["deal", "global", "resource"]
    p: Probability = Field(description="deal: per exposed deal; global/resource: per replication")
    during: tuple[Identifier, ...] = Field((), description="stages in which a deal is exposed")
    window: tuple[date, date] | None = Field(None, description="dates between which it can occur")
    applies_to: AppliesTo | None = None
    resource: Identifier | None = Field(None, description="resource scope: the pool hit")
    impact: Impact
    mitigation: Mitigation | None = None
    mitigated: bool = Field(False, description="use the mitigation's p/impact and pay its cost")

    @model_validator(mode="after")
    def _scope_fits(self) -> Risk:
        if self.scope == "resource":
            if self.resource is None:
                raise invalid("a resource risk needs 'resource'", "name the pool it hits")
            if self.impact.capacity is None or self.impact.duration is None:
                raise invalid(
                    "a resource risk's impact needs 'capacity' and 'duration'",
                    "e.g. impact: {capacity: -1, duration: {uniform: [20, 60]}}",
                )
        elif self.resource is not None:
            raise invalid(f"'resource' only applies to scope resource, not {self.scope}")
        if self.mitigated and self.mitigation is None:
            raise invalid("mitigated is true but there is no mitigation", "add mitigation: {...}")
        return self


class RuleEffect(Frozen):
    win_factor: Factor | None = None
    value_factor: Factor | None = None
    delay: DistributionSpec | None = Field(None, description="working days added at once")
    skip: tuple[Identifier, ...] = Field((), description="stages the deal will not go through")
    priority: float | None = Field(
        None,
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        allow_inf_nan=False,
        description="moves the deal ahead in queues: subtracted from its queue key",
    )


class Rule(Frozen):
    id: Identifier
    when: Condition = Field(description="expression over deal attributes, e.g. 'value < 4e5'")
    then: RuleEffect
    once: bool = Field(True, description="fire at most once per deal")


PeriodTargets = dict[Period, Money]


class Targets(Frozen):
    revenue: PeriodTargets = Field(
        default_factory=dict, description="period (2027, 2027H1, 2027Q1, 2027-03) -> revenue"
    )
    owners: dict[str, PeriodTargets] = Field(
        default_factory=dict, description="quota per deal owner: owner -> {period: revenue}"
    )
    teams: dict[str, PeriodTargets] = Field(
        default_factory=dict, description="quota per team: team -> {period: revenue}"
    )


class ForecastCategories(Frozen):
    """Thresholds on a deal's simulated probability of winning inside the period: at least
    ``commit`` is commit, at least ``best_case`` best case, at least ``pipeline`` pipeline, and
    below that the deal is omitted."""

    commit: Probability = 0.8
    best_case: Probability = 0.5
    pipeline: Probability = 0.1

    @model_validator(mode="after")
    def _ordered(self) -> ForecastCategories:
        if not self.commit >= self.best_case >= self.pipeline:
            raise invalid(
                f"thresholds must satisfy commit ({self.commit}) >= best_case "
                f"({self.best_case}) >= pipeline ({self.pipeline})",
                "lower the later ones or raise the earlier ones",
            )
        return self


class Scenario(Frozen):
    """A whole scenario; build it with :func:`simsales.load` to get located errors."""

    name: str = Field(min_length=1)
    description: str | None = None
    locale: Literal["en", "zh-CN"] = Field("en", description="language of report labels")
    start: date = Field(description="simulation time zero")
    horizon: date = Field(description="deals still open then are reported as open")
    currency: str = Field("CNY", min_length=1, max_length=8)
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    simulation: SimulationSettings = Field(default_factory=SimulationSettings)
    resources: dict[Identifier, Pool] = Field(default_factory=dict)
    queue_discipline: QueueDiscipline = Field(default_factory=QueueDiscipline)
    stages: tuple[Stage, ...] = Field(min_length=1)
    deal_types: dict[Identifier, DealType] = Field(min_length=1)
    pipeline: Annotated[
        Annotated[tuple[PipelineDeal, ...], Tag("list")] | Annotated[PipelineCsv, Tag("csv")],
        Discriminator(lambda v: "csv" if isinstance(v, dict | PipelineCsv) else "list"),
    ] = ()
    arrivals: tuple[Arrival, ...] = ()
    risks: tuple[Risk, ...] = ()
    rules: tuple[Rule, ...] = ()
    uncertainty: ScenarioUncertainty = Field(
        default_factory=ScenarioUncertainty,
        description="per-replication (and per-month) multipliers of parameters",
    )
    targets: Targets = Field(default_factory=Targets)
    forecast_categories: ForecastCategories = Field(
        default_factory=ForecastCategories,
        description="thresholds of the simulated forecast categories (P(win in the period))",
    )
    variants: dict[Identifier, dict[str, Any]] = Field(
        default_factory=dict, description="what-ifs: overlays deep-merged onto this scenario"
    )

    @field_validator("horizon")
    @classmethod
    def _after_start(cls, horizon: date, info: Any) -> date:
        start = info.data.get("start")
        if start is not None and horizon <= start:
            raise invalid(f"horizon ({horizon}) must be after start ({start})")
        return horizon

    @property
    def stage_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.stages)

    def stages_of(self, deal_type: str) -> tuple[Stage, ...]:
        """Every stage with ``deal_type``'s overrides applied (see :func:`with_override`)."""
        overrides = self.deal_types[deal_type].stages
        return tuple(with_override(st, overrides.get(st.id)) for st in self.stages)

    def deals(self) -> tuple[PipelineDeal, ...]:
        """The live pipeline (a CSV pipeline is resolved by the loader before this is used)."""
        if isinstance(self.pipeline, PipelineCsv):
            raise TypeError("CSV pipeline not resolved; load the scenario with simsales.load")
        return self.pipeline


def period_kind(label: str) -> Literal["year", "half", "quarter", "month"]:
    """Which kind of period a target label names."""
    if not re.match(PERIOD_PATTERN, label):
        raise ValueError(f"not a period label: {label!r}")
    if "Q" in label:
        return "quarter"
    if "H" in label:
        return "half"
    return "month" if "-" in label else "year"
