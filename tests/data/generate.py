"""Synthetic CRM exports with a known truth, one folder per source, written deterministically.

    python tests/data/generate.py        # rewrites tests/data/<source>/ (committed)

The truth (:func:`truth`): deals arrive as a Poisson process (``PER_DAY``) and move through four
stages by the competing exits in ``EXITS`` (advance, skip, rework, won, lost) with lognormal
times (``MEDIAN_DAYS``, sdlog ``SDLOG``); ``CLICK`` of the visits are click-throughs lasting
minutes; ``REOPEN`` of the losses are reopened in the stage they were lost from. Values are in
USD (lognormal by deal type), carried in one of four currencies at the rate of the day the deal
was created, and change a little at each stage entry; the expected close date is pushed or
pulled at each change. Each writer takes the truth and an ``as_of`` day and writes what that
CRM's export would hold at the end of that day (in the scenario's time zone), with the
source's quirks: Salesforce (Latin-1, four currencies, dated rates, rows out of order, deleted
rows), HubSpot (UTF-8 with BOM, ``hs_v2_date_entered_*``, a pipelines file; no revisits, as
its properties keep only a stage's latest entry), PingCode (JSON from the open API, unix
seconds, Asia/Shanghai), Worktile (.xlsx, Chinese headers, GB18030 CSV workloads).
Everything is deterministic (seeded); only an .xlsx file's bytes carry its write time.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
START, END = date(2022, 1, 1), date(2023, 6, 30)
PER_DAY = 1.5
STAGES = ("Qualification", "Needs Analysis", "Proposal", "Negotiation")
MEDIAN_DAYS = (6.0, 10.0, 14.0, 9.0)
SDLOG = 0.8
# stage -> [(to, probability)]: a stage index, "won" or "lost"
EXITS: dict[int, list[tuple[Any, float]]] = {
    0: [(1, 0.55), (2, 0.10), ("lost", 0.35)],
    1: [(2, 0.60), (0, 0.10), ("lost", 0.30)],
    2: [(3, 0.55), ("won", 0.05), (1, 0.10), ("lost", 0.30)],
    3: [("won", 0.60), (2, 0.10), ("lost", 0.30)],
}
NO_REVISIT: dict[int, list[tuple[Any, float]]] = {
    0: [(1, 0.55), (2, 0.10), ("lost", 0.35)],
    1: [(2, 0.70), ("lost", 0.30)],
    2: [(3, 0.65), ("won", 0.05), ("lost", 0.30)],
    3: [("won", 0.65), ("lost", 0.35)],
}
CLICK, REOPEN = 0.04, 0.08
TYPES = {"New Business": 50_000.0, "Existing Business": 20_000.0}
VALUE_SDLOG = 0.5
CURRENCIES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 135.0}  # per USD at START
CURRENCY_WEIGHTS = (0.4, 0.3, 0.15, 0.15)
PROBABILITY = (10, 20, 50, 75)
FORECAST = ("Pipeline", "Pipeline", "BestCase", "Forecast")
OWNERS = ("005A01", "005A02", "005A03", "005A04", "005A05")
ACCOUNTS = ("Société Générale", "Müller GmbH", "Ørsted A/S", "Café Señor", "Acme", "Zürich AG")


@dataclass
class Change:
    at: datetime  # naive UTC
    stage: str  # a STAGES label, "won" or "lost"
    amount: float  # in the deal's currency
    close: date  # expected close date as known after this change


@dataclass
class Deal:
    id: str
    kind: str
    currency: str
    owner: str
    account: str
    created: datetime
    usd: float
    changes: list[Change] = field(default_factory=list)


def rate(currency: str, day: date) -> float:
    """Units per USD on ``day``: a slow deterministic drift (dated rates change monthly)."""
    months = (day.year - START.year) * 12 + day.month - START.month
    return CURRENCIES[currency] * (1 + 0.01 * months) if currency != "USD" else 1.0


def truth(seed: int = 11, revisits: bool = True) -> list[Deal]:
    rng = np.random.default_rng(seed)
    exits = EXITS if revisits else NO_REVISIT
    deals: list[Deal] = []
    days = (END - START).days + 1
    for d in range(days):
        for _ in range(rng.poisson(PER_DAY)):
            t0 = datetime.combine(START + timedelta(days=d), datetime.min.time()) + timedelta(
                minutes=float(rng.uniform(7 * 60, 19 * 60))
            )
            kind = str(rng.choice(list(TYPES)))
            cur = str(rng.choice(list(CURRENCIES), p=CURRENCY_WEIGHTS))
            usd = float(TYPES[kind] * np.exp(rng.normal(0, VALUE_SDLOG)))
            deal = Deal(
                f"006{len(deals):06d}", kind, cur, str(rng.choice(OWNERS)),
                str(rng.choice(ACCOUNTS)), t0, usd,
            )  # fmt: skip
            amount = round(usd * rate(cur, t0.date()), 2)
            close = t0.date() + timedelta(days=60)
            stage, t = 0, t0
            deal.changes.append(Change(t, STAGES[0], amount, close))
            while True:
                options = exits[stage]
                k = rng.choice(len(options), p=[p for _, p in options])
                to = options[k][0]
                if rng.random() < CLICK:
                    stay = timedelta(minutes=float(rng.uniform(1, 20)))
                else:
                    stay = timedelta(days=float(MEDIAN_DAYS[stage] * np.exp(rng.normal(0, SDLOG))))
                t = t + stay
                close = close + timedelta(days=int(rng.integers(-5, 15)))
                close = max(close, t.date())
                if to == "won":
                    deal.changes.append(Change(t, "won", amount, t.date()))
                    break
                if to == "lost":
                    deal.changes.append(Change(t, "lost", amount, t.date()))
                    if revisits and rng.random() < REOPEN:
                        t = t + timedelta(days=float(rng.uniform(5, 30)))
                        deal.changes.append(Change(t, STAGES[stage], amount, t.date() +
                                                   timedelta(days=30)))  # fmt: skip
                        continue
                    break
                stage = int(to)
                amount = round(amount * float(np.exp(rng.normal(0, 0.1))), 2)
                deal.changes.append(Change(t, STAGES[stage], amount, close))
            deals.append(deal)
    return deals


def _cut(deals: list[Deal], as_of: date, tz: str) -> list[Deal]:
    """What was known at the end of ``as_of`` in zone ``tz``."""
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), ZoneInfo(tz))
    end_utc = end.astimezone(UTC).replace(tzinfo=None)
    out = []
    for d in deals:
        known = [c for c in d.changes if c.at < end_utc]
        if known:
            out.append(Deal(d.id, d.kind, d.currency, d.owner, d.account, d.created, d.usd, known))
    return out


def _sf_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


SF_CLOSED = {"won": "Closed Won", "lost": "Closed Lost"}


def write_salesforce(deals: list[Deal], folder: Path, as_of: date = END) -> Path:
    """Opportunity, OpportunityHistory (shuffled, a few deleted rows), CurrencyType and
    DatedConversionRate, Latin-1."""
    folder.mkdir(parents=True, exist_ok=True)
    known = _cut(deals, as_of, "UTC")
    opp, hist = [], []
    for d in known:
        last = d.changes[-1]
        label = SF_CLOSED.get(last.stage, last.stage)
        stage_change = max(c.at for c in d.changes if c.stage == last.stage)
        opp.append(
            {
                "Id": d.id, "Name": f"{d.account} – {d.kind}".replace("–", "-"),
                "AccountId": d.account, "OwnerId": d.owner, "Type": d.kind,
                "StageName": label, "Amount": f"{last.amount:.2f}",
                "CloseDate": last.close.isoformat(), "Probability": _prob(last.stage),
                "ForecastCategoryName": _forecast(last.stage, label=True),
                "IsClosed": str(last.stage in SF_CLOSED).lower(),
                "IsWon": str(last.stage == "won").lower(), "CurrencyIsoCode": d.currency,
                "CreatedDate": _sf_time(d.created), "LastStageChangeDate": _sf_time(stage_change),
            }
        )  # fmt: skip
        for c in d.changes:
            hist.append(
                {
                    "Id": f"008{len(hist):07d}", "OpportunityId": d.id,
                    "CreatedDate": _sf_time(c.at), "StageName": SF_CLOSED.get(c.stage, c.stage),
                    "Amount": f"{c.amount:.2f}", "CloseDate": c.close.isoformat(),
                    "Probability": _prob(c.stage), "ForecastCategory": _forecast(c.stage),
                    "IsDeleted": "false",
                }
            )  # fmt: skip
    h = pd.DataFrame(hist)
    deleted = h.iloc[::97].copy()
    deleted["IsDeleted"] = "true"
    deleted["StageName"] = "Closed Lost"  # a deleted row must not count
    h = pd.concat([h, deleted], ignore_index=True)
    h = h.sample(frac=1.0, random_state=5)  # export order is no order
    pd.DataFrame(opp).sample(frac=1.0, random_state=6).to_csv(
        folder / "Opportunity.csv", index=False, encoding="latin-1"
    )
    h.to_csv(folder / "OpportunityHistory.csv", index=False, encoding="latin-1")
    pd.DataFrame(
        [{"Id": f"02K{i}", "IsoCode": c, "ConversionRate": rate(c, as_of), "DecimalPlaces": 2,
          "IsActive": "true", "IsCorporate": str(c == "USD").lower()}
         for i, c in enumerate(CURRENCIES)]
    ).to_csv(folder / "CurrencyType.csv", index=False)  # fmt: skip
    dated = []
    month = START.replace(day=1) - timedelta(days=31)
    month = month.replace(day=1)
    while month <= as_of:
        nxt = (month + timedelta(days=32)).replace(day=1)
        for c in CURRENCIES:
            if c != "USD":
                dated.append(
                    {
                        "Id": f"04w{len(dated)}",
                        "IsoCode": c,
                        "ConversionRate": f"{rate(c, month):.6f}",
                        "StartDate": month.isoformat(),
                        "NextStartDate": nxt.isoformat() if nxt <= as_of else "9999-12-31",
                    }
                )
        month = nxt
    pd.DataFrame(dated).to_csv(folder / "DatedConversionRate.csv", index=False)
    return folder


def _prob(stage: str) -> int:
    return {"won": 100, "lost": 0}.get(stage, PROBABILITY[STAGES.index(stage)] if stage in STAGES
                                       else 0)  # fmt: skip


def _forecast(stage: str, label: bool = False) -> str:
    if stage == "won":
        return "Closed"
    if stage == "lost":
        return "Omitted"
    f = FORECAST[STAGES.index(stage)]
    return {"BestCase": "Best Case", "Forecast": "Commit"}.get(f, f) if label else f


HS_IDS = ("qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent")
HS_CLOSED = {"won": "closedwon", "lost": "closedlost"}


def _hs_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def write_hubspot(deals: list[Deal], folder: Path, as_of: date = END) -> Path:
    """A deals export (UTF-8 with BOM, internal stage ids, v2 entered/exited columns, amounts
    in deal currency plus amount_in_home_currency) and pipelines.json."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = dict(zip(STAGES, HS_IDS, strict=True)) | HS_CLOSED
    rows = []
    for d in _cut(deals, as_of, "UTC"):
        last = d.changes[-1]
        row: dict[str, Any] = {
            "hs_object_id": d.id[3:], "dealname": f"{d.account} {d.kind}",
            "pipeline": "default", "dealstage": ids[last.stage],
            "amount": f"{d.changes[0].amount:,.2f}", "deal_currency_code": d.currency,
            "amount_in_home_currency": f"{d.usd:.2f}",
            "closedate": _hs_time(d.changes[-1].at) if last.stage in HS_CLOSED else
            _hs_time(datetime.combine(last.close, datetime.min.time())),
            "createdate": _hs_time(d.created), "hubspot_owner_id": d.owner, "dealtype": d.kind,
        }  # fmt: skip
        for i, c in enumerate(d.changes):
            row[f"hs_v2_date_entered_{ids[c.stage]}"] = _hs_time(c.at)
            if i + 1 < len(d.changes):
                row[f"hs_v2_date_exited_{ids[c.stage]}"] = _hs_time(d.changes[i + 1].at)
        rows.append(row)
    frame = pd.DataFrame(rows).fillna("")
    frame.to_csv(folder / "deals.csv", index=False, encoding="utf-8-sig")
    stages = [
        {"id": i, "label": s, "displayOrder": k,
         "metadata": {"isClosed": "false", "probability": str(PROBABILITY[k] / 100)}}
        for k, (s, i) in enumerate(zip(STAGES, HS_IDS, strict=True))
    ] + [
        {"id": "closedwon", "label": "Closed Won", "displayOrder": 4,
         "metadata": {"isClosed": "true", "probability": "1.0"}},
        {"id": "closedlost", "label": "Closed Lost", "displayOrder": 5,
         "metadata": {"isClosed": "true", "probability": "0.0"}},
    ]  # fmt: skip
    pipelines = {"results": [{"id": "default", "label": "Sales Pipeline", "stages": stages}]}
    (folder / "pipelines.json").write_text(json.dumps(pipelines, indent=1), encoding="utf-8")
    return folder


PC_STATES = dict(zip(STAGES, ("线索", "需求分析", "方案报价", "商务谈判"), strict=True)) | {
    "won": "赢单", "lost": "输单"
}  # fmt: skip
PEOPLE = ("张伟", "王芳", "李娜", "刘洋")


def _unix(t: datetime) -> int:
    return int(t.replace(tzinfo=UTC).timestamp())


def _efforts(deals: list[Deal], seed: int) -> dict[str, list[tuple[datetime, str, float]]]:
    """Per deal of the full truth, a workload report every 7 days of each open stage visit
    (hours 1-6). Drawn before any cut, so a cut export keeps exactly the reports made by then."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[datetime, str, float]]] = {}
    for d in deals:
        out[d.id] = []
        for a, b in zip(d.changes, d.changes[1:], strict=False):
            if a.stage in ("won", "lost"):  # nobody works a closed deal (until it reopens)
                continue
            days = int((b.at - a.at).total_seconds() // 86400)
            for k in range(0, days, 7):
                out[d.id].append((a.at + timedelta(days=k, hours=2), str(rng.choice(PEOPLE)),
                                  float(rng.integers(1, 7))))  # fmt: skip
    return out


def write_pingcode(deals: list[Deal], folder: Path, as_of: date = END) -> Path:
    """work_items.json, transition_histories.json and workloads.json as the open API returns
    them (unix seconds; the scenario's zone is Asia/Shanghai)."""
    folder.mkdir(parents=True, exist_ok=True)
    items, transitions, workloads = [], [], []
    rng = np.random.default_rng(3)
    reports = _efforts(deals, 3)
    for d in _cut(deals, as_of, "Asia/Shanghai"):
        ident = f"SAL-{int(d.id[3:])}"
        item_id = f"5f{int(d.id[3:]):022x}"
        items.append(
            {"id": item_id, "identifier": ident, "title": f"{d.account} {d.kind}",
             "type": "deal", "state": {"name": PC_STATES[d.changes[-1].stage]},
             "assignee": {"name": d.owner}, "created_at": _unix(d.created),
             "properties": {"amount": f"{d.usd * 7:.0f}", "deal_type": d.kind}}
        )  # fmt: skip
        for a, b in zip(d.changes, d.changes[1:], strict=False):
            transitions.append(
                {"id": f"t{len(transitions)}", "work_item": {"id": item_id, "identifier": ident,
                                                             "type": "deal"},
                 "from_state": {"name": PC_STATES[a.stage]},
                 "to_state": {"name": PC_STATES[b.stage]}, "created_at": _unix(b.at)}
            )  # fmt: skip
        end = datetime.combine(as_of + timedelta(days=1), datetime.min.time(),
                               ZoneInfo("Asia/Shanghai")).astimezone(UTC)  # fmt: skip
        for at, who, hours in reports[d.id]:
            if at.replace(tzinfo=UTC) < end:
                workloads.append(
                    {"id": f"w{len(workloads)}", "principal_type": "work_item",
                     "principal": {"id": item_id, "identifier": ident}, "duration": hours,
                     "report_at": _unix(at), "report_by": {"name": who}}
                )  # fmt: skip
    rng.shuffle(transitions)  # type: ignore[arg-type]
    for name, data in (("work_items", items), ("transition_histories", transitions),
                       ("workloads", workloads)):  # fmt: skip
        (folder / f"{name}.json").write_text(
            json.dumps({"values": data}, ensure_ascii=False, indent=0), encoding="utf-8"
        )
    return folder


def write_worktile(deals: list[Deal], folder: Path, as_of: date = END) -> Path:
    """tasks.xlsx and state_changes.xlsx with Chinese headers, workloads.csv in GB18030
    (local time, Asia/Shanghai, no zone in the text)."""
    folder.mkdir(parents=True, exist_ok=True)
    tz = ZoneInfo("Asia/Shanghai")

    def local(t: datetime) -> str:
        return t.replace(tzinfo=UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")

    tasks, changes, loads = [], [], []
    reports = _efforts(deals, 4)
    for d in _cut(deals, as_of, "Asia/Shanghai"):
        ident = f"CRM-{int(d.id[3:])}"
        tasks.append({"任务编号": ident, "任务标题": f"{d.account} {d.kind}",
                      "任务状态": PC_STATES[d.changes[-1].stage], "负责人": d.owner,
                      "创建时间": local(d.created), "合同金额": f"{d.usd * 7 / 1e4:.2f}万",
                      "任务类型": d.kind})  # fmt: skip
        for a, b in zip(d.changes, d.changes[1:], strict=False):
            changes.append({"任务编号": ident, "原状态": PC_STATES[a.stage],
                            "新状态": PC_STATES[b.stage], "变更时间": local(b.at)})  # fmt: skip
        end = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), tz)
        for at, who, hours in reports[d.id]:
            if at.replace(tzinfo=UTC) < end:
                loads.append({"任务编号": ident, "登记人": who, "工时": hours,
                              "登记日期": local(at)})  # fmt: skip
    pd.DataFrame(tasks).to_excel(folder / "tasks.xlsx", index=False)
    pd.DataFrame(changes).sample(frac=1.0, random_state=2).to_excel(
        folder / "state_changes.xlsx", index=False
    )
    pd.DataFrame(loads).to_csv(folder / "workloads.csv", index=False, encoding="gb18030")
    return folder


WRITERS = {
    "salesforce": (write_salesforce, True),
    "hubspot": (write_hubspot, False),
    "pingcode": (write_pingcode, True),
    "worktile": (write_worktile, True),
}


def write(source: str, folder: Path, as_of: date = END, seed: int = 11) -> Path:
    writer, revisits = WRITERS[source]
    return writer(truth(seed, revisits=revisits), folder, as_of)


def main(argv: list[str]) -> None:
    for source in argv or list(WRITERS):
        print(write(source, HERE / source))


if __name__ == "__main__":
    main(sys.argv[1:])
