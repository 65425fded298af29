"""The page follows the browser's language: 简体中文 for zh-CN, English otherwise; a Chinese
question over a Chinese document gets a cited answer with the matched words marked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT, RunningApp

SHOTS = ROOT / ".pytest_cache" / "screenshots"
ATTENTION_MD = """# 注意力机制

## 自注意力

自注意力机制让序列中的每个词都能看到其他所有词，并按相关程度加权求和。
Transformer 用多头注意力并行计算多组注意力权重。

## 位置编码

因为注意力本身不区分顺序，Transformer 给每个位置加上位置编码。
"""


@contextmanager
def _page_in(browser, locale: str, url: str, tagline: str, tabs: tuple[str, ...], absent: str) -> Iterator:
    """The page opened at `url` by a browser whose language is `locale`, once it shows `tagline`,
    checked to have `tabs` and not the `absent` tab of the other language."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    try:
        page = context.new_page()
        page.goto(url)
        page.get_by_text(tagline).wait_for(timeout=30000)
        for name in tabs:
            assert page.get_by_role("tab", name=name, exact=True).count() == 1, name
        assert page.get_by_role("tab", name=absent).count() == 0
        yield page
    finally:
        context.close()


def test_a_chinese_browser_gets_the_chinese_page_and_cited_answers(browser, running_app: RunningApp,
                                                                   tmp_path: Path) -> None:
    doc = tmp_path / "注意力.md"
    doc.write_text(ATTENTION_MD, encoding="utf-8")
    with _page_in(browser, "zh-CN", running_app.url, "在浏览器里使用语言模型",
                  ("对话", "文档问答", "任务实验", "模型内部", "模型"), "Document QA") as page:
        page.get_by_role("tab", name="文档问答").click()
        page.locator("input[type=file]").first.set_input_files(str(doc))
        page.get_by_role("button", name="建立索引").click()
        page.locator("#docqa-documents").get_by_text("注意力.md: 1 个段落").wait_for(timeout=60000)
        page.get_by_label("问题").fill("自注意力机制是什么？")
        page.get_by_role("button", name="提问", exact=True).click()
        page.locator("#docqa-sources .lm-source").first.wait_for(timeout=90000)
        answer = page.locator("#docqa-answer").inner_text()
        assert "[1]" in answer and "自注意力" in answer, answer
        source = page.locator("#docqa-sources .lm-source").first
        assert "注意力.md" in source.inner_text() and "得分" in source.inner_text()
        marked = source.locator("mark").all_inner_texts()
        assert "自注意力" in marked or "注意力" in marked, marked
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "docqa-zh.png"), full_page=True)
        page.get_by_role("tab", name="任务实验").click()
        page.get_by_label("要分类的文本").fill("这款手机的电池非常耐用，拍照也很清楚。")
        page.get_by_label("标签（零样本）").fill("科技, 体育")
        page.get_by_role("button", name="分类", exact=True).click()
        refusal = page.get_by_text("不认识这段文字中").first
        refusal.wait_for(timeout=30000)  # no confident 0.48 / 0.48 guess: the encoder says it cannot read this
        assert "paraphrase-multilingual-MiniLM-L12-v2" in refusal.inner_text()
        page.get_by_label("标签（零样本）").fill("科技")
        page.get_by_role("button", name="分类", exact=True).click()
        page.get_by_text("请至少给出两个标签，例如").first.wait_for(timeout=30000)  # the service's message, in Chinese
        page.get_by_text("少样本：每个标签几个例子").click()
        page.get_by_role("button", name="训练少样本分类器", exact=True).click()
        page.get_by_text("分类头已在冻结的向量上训练好，共 4 个例子").wait_for(timeout=60000)


def test_an_english_browser_gets_the_english_page(browser, running_app: RunningApp) -> None:
    with _page_in(browser, "en-US", running_app.url, "Language models in your browser",
                  ("Chat", "Document QA", "Playground", "Lab", "Models"), "文档问答") as page:
        page.get_by_role("tab", name="Playground").click()
        page.get_by_role("button", name="Classify", exact=True).wait_for(timeout=10000)
        assert page.get_by_label("Text to classify").count() == 1
