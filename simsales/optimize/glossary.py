"""The money figures of a plan, defined once; the CLI, the report and the JSON use these words.

Every figure is an expected value over simulated replications, in the scenario's currency.
"""

from __future__ import annotations

__all__ = ["GLOSSARY"]

GLOSSARY: dict[str, str] = {
    "revenue": "contract value of the deals won within the horizon",
    "gross_margin": "revenue x each deal type's margin share (what the won deals earn before "
    "the people who win them are paid)",
    "staff_cost": "people cost: employees paid for their planned headcount every working day, "
    "busy or not; external partners paid for the days they work",
    "mitigation_cost": "spend on funded risk mitigations (per exposed deal, or once)",
    "direct_cost": "direct stage costs per visit (travel, demo kit, ...)",
    "plan_margin": "gross_margin - direct_cost - mitigation_cost - staff_cost: the optimizer's "
    "objective, and the figure a plan is judged on",
    "margin": "the comparison's margin: gross margin less the people cost of the days they are "
    "busy on deals (not their idle days) and the other costs",
    "objective": "capacity mode: the expected plan_margin the model promises; assignment mode: "
    "the expected gross margin of the staffed live deals, with the owners' value uplifts",
}
