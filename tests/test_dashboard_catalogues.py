"""The dashboard's catalogues (cloud/dashboard/static/i18n/<locale>.json): every key in every
language, no empty text, and each translation fills the same values as the English."""

from __future__ import annotations

import json
import re

import pytest

from furrow.cloud.agronomy.alerts import AlertKind
from furrow.cloud.agronomy.crop import Stage
from furrow.cloud.agronomy.messages import placeholders
from furrow.cloud.agronomy.pests import Trend
from furrow.cloud.alerts.snapshot import SUSPECT_FLAGS
from furrow.cloud.auth import Role
from furrow.cloud.commands.lifecycle import CommandState
from furrow.cloud.dashboard import CATALOGUES, locales
from furrow.cloud.planning.models import OverrideAction
from furrow.cloud.registry.models import SoilTexture
from furrow.edge.measurements import FAULTS, MEASUREMENTS, ROLES


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


STATIC = CATALOGUES.parent
# t("key"), t(`prefix.${...}`) and tr("kind", value) in the dashboard's modules
LITERAL = re.compile(r"""\bt\(\s*"([^"]+)"\s*[,)]""")
PREFIX = re.compile(r"""\bt\(\s*`([\w.-]+\.)\$\{""")
KIND = re.compile(r"""\btr\(\s*"([\w-]+)"\s*,""")


def _sources() -> dict[str, str]:
    return {str(p.relative_to(STATIC)): p.read_text(encoding="utf-8") for p in sorted(STATIC.rglob("*.js"))}


def test_every_key_the_pages_ask_for_is_in_the_catalogues():
    """Each t("key") of the dashboard's modules is a catalogue key, and each t(`prefix.${x}`) and
    tr("kind", x) has keys under its prefix (a typo'd key would show the English fallback)."""
    en = catalogue("en")
    sources = _sources()
    assert "app.js" in sources and "views/zone.js" in sources
    asked = {(name, key) for name, text in sources.items() for key in LITERAL.findall(text)}
    assert sorted(k for k in asked if k[1] not in en) == []
    prefixes = {(name, p) for name, text in sources.items() for p in PREFIX.findall(text)}
    prefixes |= {(name, k + ".") for name, text in sources.items() for k in KIND.findall(text)}
    assert sorted(p for p in prefixes if not any(k.startswith(p[1]) for k in en)) == []
    assert len(asked) > 150, "the pattern no longer finds the pages' keys"


def test_every_value_the_pages_translate_has_its_text():
    """Every node role, measurement, fault and suspect flag of the contract, soil texture, crop
    stage, command state, alert kind, trend, user role and override has its catalogue text."""
    en = catalogue("en")
    values = {
        "node_role": ROLES, "measurement": MEASUREMENTS, "fault": [*FAULTS, *SUSPECT_FLAGS],
        "soil": [str(s) for s in SoilTexture], "stage": [*(str(s) for s in Stage), "unknown"],
        "command_state": [str(s) for s in CommandState], "alert-kind": [str(k) for k in AlertKind],
        "trend": [str(x) for x in Trend], "role": [str(r) for r in Role], "override": [str(o) for o in OverrideAction],
    }
    missing = [f"{kind}.{v}" for kind, vs in values.items() for v in vs if f"{kind}.{v}" not in en]
    assert missing == []
