"""The dashboard's catalogues (cloud/dashboard/static/i18n/<locale>.json): every key in every
language, no empty text, and each translation fills the same values as the English."""

from __future__ import annotations

import json

import pytest

from furrow.cloud.agronomy.messages import placeholders
from furrow.cloud.dashboard import CATALOGUES, locales


def catalogue(locale: str) -> dict[str, str]:
    return json.loads((CATALOGUES / f"{locale}.json").read_text(encoding="utf-8"))


def test_the_dashboard_speaks_simplified_chinese_and_english():
    """One catalogue file per language: zh-CN and en."""
    assert locales() == ["en", "zh-CN"]


@pytest.mark.parametrize("locale", ["zh-CN"])
def test_every_key_is_in_both_catalogues_with_a_text_and_the_same_values(locale):
    """Same keys in zh-CN as in English, none empty, and each text uses exactly the English's {values}."""
    en, other = catalogue("en"), catalogue(locale)
    assert sorted(set(en) - set(other)) == [], f"missing from {locale}"
    assert sorted(set(other) - set(en)) == [], f"in {locale} but not in en"
    for key, text in {**en, **other}.items():
        assert isinstance(text, str) and text.strip(), key
    assert [k for k in en if placeholders(en[k]) != placeholders(other[k])] == []
