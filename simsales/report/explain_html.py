"""The explanation of a gap to target as HTML: a page of its own (``simsales explain -o``)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from simsales.io.outputs import Output, write_text
from simsales.results.explain import Explanation, money

__all__ = ["explain_context", "render_explanation", "write_explanation"]


def explain_context(explanation: Explanation) -> dict[str, object]:
    """What ``explain.html.j2`` needs: the explanation, its rows by size, a money formatter."""
    c = explanation.contributions
    rows = c.reindex(c["value"].abs().sort_values(ascending=False).index)
    return {
        "explanation": explanation,
        "rows": list(rows.itertuples()),
        "money": lambda v: money(float(v), explanation.currency),
    }


def render_explanation(explanation: Explanation, title: str) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("simsales.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    page = env.get_template("explain_page.html.j2")
    return page.render(title=title, **explain_context(explanation))


def write_explanation(explanation: Explanation, path: str | Path | Output, title: str) -> Path:
    return write_text(path, render_explanation(explanation, title))
