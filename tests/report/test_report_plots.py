"""Matplotlib figures: every one draws for both example scenarios, Chinese labels get a CJK font
when one is installed, and a missing font is a warning, never an error."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from simsales.report import fonts, plots
from simsales.report.data import ReportData
from simsales.results.forecast import Forecast

PLOTS: dict[str, Callable[[ReportData], Figure]] = {
    "deal_close_dates": plots.deal_close_dates,
    "revenue_s_curve": plots.revenue_s_curve,
    "revenue_fan": plots.revenue_fan,
    "tornado": plots.tornado,
    "utilization_heatmap": plots.utilization_heatmap,
    "stage_funnel": plots.stage_funnel,
}


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def data(enterprise: Forecast, chinese: Forecast) -> dict[str, ReportData]:
    return {"en": ReportData(enterprise), "zh": ReportData(chinese)}


@pytest.mark.parametrize("locale", ["en", "zh"])
@pytest.mark.parametrize("name", list(PLOTS))
def test_every_plot_draws(name: str, locale: str, data: dict[str, ReportData]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = PLOTS[name](data[locale])
        png = _png(fig)
    assert isinstance(fig, Figure) and fig.axes
    assert png.startswith(b"\x89PNG")
    if fonts.find_cjk_font() is not None:  # Chinese text must not fall back to empty boxes
        missing = [w for w in caught if "missing from" in str(w.message)]
        assert not missing, missing[0].message


def test_chinese_labels_use_the_cjk_font(data: dict[str, ReportData]) -> None:
    font = fonts.find_cjk_font()
    if font is None:
        pytest.skip("no CJK font installed (Debian: apt install fonts-noto-cjk)")
    title = _text(plots.revenue_fan(data["zh"]), "各季度收入")
    assert title.get_fontfamily()[0] == font
    english = _text(plots.revenue_fan(data["en"]), "Revenue per quarter")
    assert english.get_fontfamily()[0] != font  # no CJK text: left alone


def _text(fig: Figure, content: str) -> Text:
    return next(t for t in fig.findobj(Text) if isinstance(t, Text) and t.get_text() == content)


def test_a_missing_cjk_font_is_a_warning_not_an_error(
    data: dict[str, ReportData], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fonts, "find_cjk_font", lambda: None)
    with pytest.warns(UserWarning, match="no CJK font found"):
        fig = plots.stage_funnel(data["zh"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # matplotlib's own "glyph missing" notes
        assert _png(fig).startswith(b"\x89PNG")


def test_forecast_plot_methods_share_one_analysis(enterprise: Forecast) -> None:
    accessor = enterprise.plot
    assert enterprise.plot is accessor
    assert isinstance(accessor.revenue_fan(), Figure)
    assert isinstance(accessor.tornado("close_p80", top=3), Figure)
    assert len(accessor.tornado("close_p80", top=3).axes[0].patches) == 3
    with pytest.raises(ValueError, match="unknown output 'nope'"):
        accessor.tornado("nope")
