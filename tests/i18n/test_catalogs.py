"""The gettext catalogs cover every label the code and templates use, in both locales."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from simsales.i18n import LOCALES, keys, translator

ROOT = Path(__file__).resolve().parents[2]
_FIELD = re.compile(r"{(\w+)")


def _used_keys() -> dict[str, str]:
    """key -> where it is used, by Babel's extractors as configured in babel.cfg."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = extract_from_dir(str(ROOT), method_map, options_map, keywords={"t": None, "N_": None})
    return {str(msg): f"{path}:{line}" for path, line, msg, *_ in found}


def test_extraction_finds_the_templates_and_the_code() -> None:
    used = _used_keys()
    assert {"expected_revenue", "nav_headline", "gantt_title"} <= set(used)
    assert any(where.endswith(".j2:" + where.rsplit(":", 1)[1]) for where in used.values())


@pytest.mark.parametrize("locale", LOCALES)
def test_every_used_key_is_translated(locale: str) -> None:
    missing = {k: where for k, where in _used_keys().items() if k not in keys(locale)}
    assert not missing, f"add these to the {locale} catalog: {missing}"


def test_both_catalogs_have_the_same_keys_and_fields() -> None:
    en, zh = translator("en"), translator("zh-CN")
    assert keys("en") == keys("zh-CN")
    for key in keys("en"):
        english, chinese = en._catalog.gettext(key), zh._catalog.gettext(key)
        assert set(_FIELD.findall(chinese)) == set(_FIELD.findall(english)), key


def test_a_missing_key_is_noted() -> None:
    t = translator("zh-CN")
    assert t("no_such_label_anywhere") == "no_such_label_anywhere"
    assert "no_such_label_anywhere" in t.missing
    t.missing.discard("no_such_label_anywhere")
