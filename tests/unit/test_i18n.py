"""The page in English and Chinese: every key has both, handlers answer in the browser's language."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from lmdemo.ui.i18n import I18N, STRINGS, language, say, t
from tests.conftest import ROOT


def _request(accept: str | None) -> SimpleNamespace:
    return SimpleNamespace(headers={"accept-language": accept} if accept is not None else {})


def test_every_key_has_an_english_and_a_chinese_text_with_the_same_placeholders() -> None:
    assert set(I18N.translations["en"]) == set(I18N.translations["zh-CN"]) == set(STRINGS)
    for key, (en, zh) in STRINGS.items():
        assert en.strip() and zh.strip(), key
        assert re.search(r"[\u4e00-\u9fff]", zh) or en == zh, f"{key} is not translated"
        assert set(re.findall(r"{(\w+)}", en)) == set(re.findall(r"{(\w+)}", zh)), key


def test_every_key_the_ui_uses_exists() -> None:
    used = set()
    for path in (ROOT / "lmdemo" / "ui").glob("*.py"):
        used |= set(re.findall(r'\b(?:t|say)\((?:request, )?f?["\']([\w.{}-]+)["\']', path.read_text()))
    plain = {key for key in used if "{" not in key}
    assert len(plain) > 60 and plain <= set(STRINGS), plain - set(STRINGS)
    for pattern in (key for key in used if "{" in key):  # t(f"play.mode.{m}"): some key of that family
        prefix = pattern.split("{")[0]
        assert any(key.startswith(prefix) for key in STRINGS), pattern
    with pytest.raises(KeyError):
        t("no.such.key")


def test_handlers_answer_in_the_language_the_browser_asks_for() -> None:
    assert language(_request("zh-CN,zh;q=0.9,en;q=0.8")) == "zh"
    assert language(_request("en-US,en;q=0.9,zh-CN;q=0.5")) == "en"
    assert language(_request(None)) == "en" and language(None) == "en"
    assert say(_request("zh-TW"), "docqa.page", page=3) == "第 3 页"
    assert say(None, "docqa.page", page=3) == "page 3"
