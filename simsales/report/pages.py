"""The one Jinja2 environment of every HTML page simsales writes (report, comparison, backtest,
explanation), and the plotly.js bundle each page inlines.

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

__all__ = ["environment", "plotly_js", "render_page"]

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


@functools.cache
def plotly_js() -> Markup:
    """plotly.js, ready to inline in a <script> element (web addresses neutralised)."""
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    # Web addresses in the bundle (attributions, logo links) are never fetched by our charts;
    # "\/" is "/" inside JS strings and regular expressions, so the code is unchanged.
    js = js.replace("https://", "https:\\/\\/").replace("http://", "http:\\/\\/")
    if "</script" in js.lower():
        raise RuntimeError("the plotly.js bundle contains '</script'; it cannot be inlined")
    return Markup(js)


def render_page(template: str, t: Translator, **context: Any) -> str:
    """Render ``template`` in the language of ``t``, with the font its CJK characters need."""
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
