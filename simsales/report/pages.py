"""The one Jinja2 environment of every HTML page simsales writes (report, comparison, backtest).

Every page extends ``templates/base.html.j2`` (language, fonts, shared styles, plotly.js) and
fills its blocks; a section is a template of its own that a page includes. Autoescaping is on,
so text from a scenario shows as text; templates call the page's translator ``t`` for every
word (``{{ t('key') }}``), so a page is in one language throughout. After rendering, the CJK
characters on the page are embedded as a font subset (see :mod:`simsales.report.fonts`).
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from markupsafe import Markup

from simsales.i18n import Translator
from simsales.report.fonts import font_face_css
from simsales.report.interactive import FONT_STACK

__all__ = ["environment", "render_page"]

_FONT_SLOT = "/* @font-face of the page's CJK characters */"


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("simsales.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(template: str, t: Translator, **context: Any) -> str:
    """Render ``template`` in the language of ``t``, with the font its CJK characters need."""
    from simsales.report.html import plotly_js

    page = (
        environment()
        .get_template(template)
        .render(
            t=t,
            lang=t.locale,
            font_stack=Markup(FONT_STACK),  # our constant, inside <style>: not to be escaped
            font_slot=Markup(_FONT_SLOT),
            plotly_js=plotly_js(),
            **context,
        )
    )
    text = page.replace(str(plotly_js()), "")  # the page's own text, charts' data included
    return page.replace(_FONT_SLOT, font_face_css(text), 1)
