"""The page in English and Chinese: every key has both, handlers answer in the browser's language."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from lmdemo.errors import UserError
from lmdemo.ui.i18n import I18N, STRINGS, language, say, t, told
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


def _raised(call) -> UserError:
    with pytest.raises(UserError) as caught:
        call()
    return caught.value


def test_what_a_user_gets_wrong_is_told_in_chinese_to_a_chinese_browser(tmp_path) -> None:
    """Services say each message in both languages; the handler shows the browser's."""
    from lmdemo.docqa.loaders import load_document
    from lmdemo.docqa.service import IngestReport
    from lmdemo.tasks.classify import parse_labels
    from lmdemo.tasks.dataset import read_csv

    empty = tmp_path / "空.md"
    empty.write_bytes(b"")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("sentence,category\nhello,a\n")
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\nhello,a\nworld,a\n")
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("text,label\ncafé,a\nthé,b\n".encode("latin-1"))
    errors = [_raised(lambda: load_document(empty)), _raised(lambda: read_csv(wrong)),
              _raised(lambda: read_csv(one_class)), _raised(lambda: read_csv(latin)),
              _raised(lambda: parse_labels("科技"))]
    chinese, english = _request("zh-CN,zh;q=0.9"), _request("en-US")
    assert [told(chinese, e) for e in errors] == [
        "空.md：文件是空的", "wrong.csv：需要 `text` 和 `label` 列；找到的是 sentence, category",
        "one.csv：只有一个类别（a）；分类器至少需要两个", "latin1.csv：不是 UTF-8 文本（字节偏移 14）；请把 CSV 另存为 UTF-8",
        "请至少给出两个标签，例如 `体育, 政治, 科技`。"]
    assert told(english, errors[0]) == "空.md: the file is empty" and told(None, errors[1]).startswith("wrong.csv: needs")
    assert told(chinese, UserError("Only in English.")) == "Only in English.", "no Chinese written: the English"
    report = IngestReport([("a.md", 3)], [errors[0]], 3)
    assert "✗ 空.md：文件是空的" in report.summary(chinese=True)
    assert "✗ 空.md: the file is empty" in report.summary()


def test_a_side_of_a_comparison_shows_its_error_in_the_pages_language() -> None:
    from lmdemo.chat.compare import Side

    busy = Side("m", error="The server is busy.", error_zh="服务器正忙。")
    assert busy.summary() == "⚠️ The server is busy." and busy.summary(chinese=True) == "⚠️ 服务器正忙。"
    assert Side("m", error="Only English.").summary(chinese=True) == "⚠️ Only English."
