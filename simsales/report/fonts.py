"""A CJK-capable font, so Chinese labels render instead of boxes: in matplotlib figures, and
embedded in the HTML pages for viewers that have no CJK font of their own.

The first installed font of :data:`CJK_FONTS` is used (Debian: ``apt install fonts-noto-cjk``).
Fonts installed after matplotlib built its font cache are found by scanning the system font
directories once. An HTML page embeds a subset of that font holding exactly the CJK characters
on the page (fontTools, WOFF, base64 in an ``@font-face``; a few hundred kB at most), so the
page shows Chinese on any viewer, offline. Without a font, figures and pages still work (CJK
glyphs then depend on the viewer) and a warning says what to install: a missing font is never
an error.
"""

from __future__ import annotations

import base64
import functools
import io
import re
import warnings
from pathlib import Path

from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text

__all__ = [
    "CJK_FONTS",
    "EMBEDDED_FAMILY",
    "apply_fonts",
    "find_cjk_font",
    "font_face_css",
    "needs_cjk",
]

CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Noto Serif CJK SC",
)
_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_FILE_HINTS = ("cjk", "wqy", "sourcehan", "simhei", "yahei", "msyh", "pingfang", "notosanssc")


EMBEDDED_FAMILY = "simsales CJK"  # the family name of the subset a page embeds
_NO_FONT = (
    "no CJK font found, so Chinese labels may show as boxes; install one "
    "(Debian/Ubuntu: apt install fonts-noto-cjk) and clear matplotlib's font cache"
)


def needs_cjk(text: str) -> bool:
    """Whether ``text`` has Chinese, Japanese or Korean characters (or full-width forms)."""
    return bool(_CJK.search(text))


def _installed() -> set[str]:
    return {f.name for f in font_manager.fontManager.ttflist}


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """The family name of an installed CJK font, or None."""
    names = _installed()
    for name in CJK_FONTS:
        if name in names:
            return name
    # installed after matplotlib cached its font list: register the candidates we can see
    for path in font_manager.findSystemFonts():
        if any(hint in Path(path).name.lower() for hint in _FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # a broken font file: skip it
                continue
    names = _installed()
    return next((name for name in CJK_FONTS if name in names), None)


def apply_fonts(fig: Figure) -> Figure:
    """Give every text of ``fig`` a CJK font (with DejaVu Sans for Latin) when one is needed.

    Warns (``UserWarning``) when the figure has CJK text and no CJK font is installed.
    """
    texts = [t for t in fig.findobj(Text) if isinstance(t, Text)]
    if not any(needs_cjk(t.get_text()) for t in texts):
        return fig
    font = find_cjk_font()
    if font is None:
        warnings.warn(_NO_FONT, UserWarning, stacklevel=3)
        return fig
    for t in texts:
        t.set_fontfamily([font, "DejaVu Sans"])
    return fig


def _font_file(family: str) -> tuple[str, int]:
    """The file of ``family`` and, for a collection (.ttc), the index of the face in it."""
    from fontTools.ttLib import TTCollection

    path = font_manager.findfont(
        font_manager.FontProperties(family=family), fallback_to_default=False
    )
    if not path.lower().endswith((".ttc", ".otc")):
        return path, 0
    faces = TTCollection(path, lazy=True).fonts
    for i, face in enumerate(faces):
        if face["name"].getBestFamilyName() == family:
            return path, i
    return path, 0


@functools.lru_cache(maxsize=16)
def _subset(chars: str) -> str | None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    family = find_cjk_font()
    if family is None:
        return None
    path, index = _font_file(family)
    font = TTFont(path, fontNumber=index, lazy=False)
    options = subset.Options()
    options.flavor = "woff"  # zlib-compressed; WOFF2 would need brotli
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    out = io.BytesIO()
    font.flavor = "woff"
    font.save(out)
    return base64.b64encode(out.getvalue()).decode("ascii")


def font_face_css(text: str) -> str:
    """An ``@font-face`` rule (family :data:`EMBEDDED_FAMILY`) embedding the CJK characters of
    ``text`` (written out or as JSON ``\\u`` escapes) from the installed CJK font; empty when
    ``text`` has none. Warns when a font is needed and none is installed."""
    escaped = {chr(int(h, 16)) for h in _ESCAPE.findall(text)}  # as in chart data
    chars = "".join(sorted({c for c in {*text, *escaped} if needs_cjk(c)}))
    if not chars:
        return ""
    data = _subset(chars)
    if data is None:
        warnings.warn(_NO_FONT, UserWarning, stacklevel=2)
        return ""
    ranges = ",".join(f"U+{ord(c):X}" for c in chars)
    return (
        f'@font-face {{ font-family: "{EMBEDDED_FAMILY}"; font-display: block; '
        f'src: url(data:font/woff;base64,{data}) format("woff"); unicode-range: {ranges}; }}'
    )
