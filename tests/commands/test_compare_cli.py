"""``simsales compare`` through the real entry point (errors exit 2, JSON on stdout only)."""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import typer

import simsales.cli
from simsales.commands.compare import register
from simsales.results.summary import summarize

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``simsales ARGS`` with the compare command registered; (exit code, stdout, stderr)."""
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """simsales"""

    register(app)
    monkeypatch.setattr(simsales.cli, "app", app)

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["simsales", *args])
        code = 0
        try:
            simsales.cli.main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_json_is_the_contract_and_alone_on_stdout(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(
        "compare",
        str(SCENARIOS / "minimal.yaml"),
        "--set",
        "resources.sales.capacity=3",
        "--replications",
        "20",
        "--seed",
        "4",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)  # nothing but the JSON on stdout
    assert set(data) == {"schema_version", "base", "variants"}
    assert "simulating" in err  # progress messages go to stderr
    [variant] = data["variants"]
    assert set(variant) == {"name", "summary", "deltas"}
    assert variant["name"] == "--set resources.sales.capacity=3"
    import simsales

    expected = summarize(
        simsales.simulate(SCENARIOS / "minimal.yaml", 20, 4, progress=False, precision=None)
    ).to_json()
    assert set(data["base"]) == set(expected)
    assert data["base"]["deals"] == expected["deals"]  # the same seed gives the same base
    assert set(variant["summary"]) == set(expected)
    metrics = [d["metric"] for d in variant["deltas"]]
    assert "revenue" in metrics and "mean_wait_days:sales" in metrics
    for d in variant["deltas"]:
        assert set(d) == {
            "metric",
            "base",
            "variant",
            "difference",
            "ci_low",
            "ci_high",
            "significant",
        }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("resources.sales.capacity=-1", "greater than or equal to 0"),
        ("resources.sales.capcity=3", "did you mean 'capacity'"),
        ("resources.sales.capacity", "expected PATH=VALUE"),
    ],
)
def test_a_bad_override_is_named_and_exits_2(cli, override: str, message: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("compare", str(SCENARIOS / "minimal.yaml"), "--set", override, "-n", "2")
    assert code == 2
    assert f"--set {override}" in err and message in err
    assert "Traceback" not in err and out == ""


def test_unknown_variant_exits_2_with_did_you_mean(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(
        "compare", str(SCENARIOS / "enterprise-it.yaml"), "--variant", "hire_presale", "-n", "2"
    )
    assert code == 2
    assert "unknown variant 'hire_presale'" in err and "did you mean 'hire_presales'" in err


def test_table_lists_each_variant(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when not on a terminal
    code, out, err = cli(
        "compare",
        str(SCENARIOS / "minimal.yaml"),
        "--set",
        "resources.sales.capacity=1",
        "-n",
        "10",
    )
    assert code == 0, err
    assert "resources.sales.capacity=1 vs base" in out
    assert "Revenue, total" in out and "unpaired" in out


class _Refs(HTMLParser):
    """Every tag and attribute outside script/style text (which HTMLParser keeps as data)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def test_html_is_offline_and_escapes_the_scenario(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (SCENARIOS / "minimal.yaml").read_text(encoding="utf-8")
    text = text.replace("name: Minimal pipeline", "name: \"<script>alert('q7x')</script> & Co\"")
    text += (
        "risks:\n"
        "  - {id: churn, name: '<img src=x onerror=alert(9)>', scope: deal, p: 0.2,\n"
        "     impact: {lost: true}, mitigation: {cost: 100, p: 0.05}}\n"
    )
    scenario = tmp_path / "nasty.yaml"
    scenario.write_text(text, encoding="utf-8")
    target = tmp_path / "out" / "compare.html"
    code, _, err = cli(
        "compare",
        str(scenario),
        "--set",
        "resources.sales.name=<b>zq9</b>",
        "-n",
        "15",
        "-o",
        str(target),
    )
    assert code == 0, err
    page = target.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["compare.html"]  # no temp left
    # escaped everywhere: in the page and in the chart labels
    for raw in ("<script>alert('q7x')", "<img src=x", "<b>zq9</b>"):
        assert raw not in page
    assert "&lt;script&gt;alert(" in page and "&lt;b&gt;zq9&lt;/b&gt;" in page
    assert "Risk contribution" in page and "churn" in page
    assert "Risk register" in page and page.count("(churn)") >= 3  # ranked, mitigated, register
    # offline: plotly.js inlined once, no resource fetched from anywhere
    refs = _Refs()
    refs.feed(page)
    assert len(page) > 1_000_000 and page.count("<script>") >= 1
    for tag, attrs in refs.tags:
        assert tag != "link", attrs
        if tag == "script":
            assert "src" not in attrs
        for key in ("src", "href", "data", "srcset", "poster"):
            value = attrs.get(key) or ""
            assert not re.match(r"\s*(https?:)?//", value, re.I), (tag, attrs)
    for css in refs.styles:
        assert "url(" not in css and "@import" not in css
