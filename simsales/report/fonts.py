"""A CJK-capable font for matplotlib figures, so Chinese labels render instead of boxes.

The first installed font of :data:`CJK_FONTS` is used (Debian: ``apt install fonts-noto-cjk``).
Fonts installed after matplotlib built its font cache are found by scanning the system font
directories once. Without any, figures still draw (CJK glyphs become boxes) and a warning says
what to install: a missing font is never an error.
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path

from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text

__all__ = ["CJK_FONTS", "apply_fonts", "find_cjk_font", "needs_cjk"]

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
_FILE_HINTS = ("cjk", "wqy", "sourcehan", "simhei", "yahei", "msyh", "pingfang", "notosanssc")


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
        warnings.warn(
            "no CJK font found, so Chinese labels may show as boxes; install one "
            "(Debian/Ubuntu: apt install fonts-noto-cjk) and clear matplotlib's font cache",
            UserWarning,
            stacklevel=3,
        )
        return fig
    for t in texts:
        t.set_fontfamily([font, "DejaVu Sans"])
    return fig
