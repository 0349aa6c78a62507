"""The explanation of a gap to target as HTML: a page of its own (``simsales explain -o``), in
the explanation's language, rendered through the one Jinja2 environment (see pages.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simsales.i18n import N_, Translator, translator
from simsales.io.outputs import Output, write_text
from simsales.report.pages import render_page
from simsales.results.explain import Explanation

__all__ = ["contribution_rows", "explain_context", "render_explanation", "write_explanation"]

_KINDS = {"pool": N_("xp_kind_pool"), "risk": N_("xp_kind_risk"),
          "interaction": N_("xp_kind_interaction"), "coverage": N_("xp_kind_coverage"),
          "deal": N_("xp_kind_deal"), "stage": N_("xp_kind_stage")}  # fmt: skip


def contribution_rows(explanation: Explanation, t: Translator) -> list[dict[str, str]]:
    """The contributions, largest first, formatted: kind, label, value and its 95% interval."""
    c = explanation.contributions
    rows = c.reindex(c["value"].abs().sort_values(ascending=False).index)
    return [
        {
            "kind": t(_KINDS[r.kind]) if r.kind in _KINDS else r.kind,
            "label": r.label,
            "value": t.money(r.value),
            "ci": t("xp_range", low=t.money(r.low), high=t.money(r.high)),
        }
        for r in rows.itertuples()
    ]


def explain_context(explanation: Explanation, t: Translator) -> dict[str, Any]:
    """What ``explain.html.j2`` needs: the explanation, its rows by size, a money formatter."""
    return {
        "explanation": explanation,
        "rows": contribution_rows(explanation, t),
        "money": t.money,
    }


def render_explanation(explanation: Explanation, title: str) -> str:
    t = translator(explanation.locale)
    return render_page("explain_page.html.j2", t, title=title, **explain_context(explanation, t))


def write_explanation(explanation: Explanation, path: str | Path | Output, title: str) -> Path:
    return write_text(path, render_explanation(explanation, title))
