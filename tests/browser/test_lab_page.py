"""The Lab in the browser: what each view shows, not only that it drew something."""

from __future__ import annotations

from PIL import Image

from tests.conftest import ROOT, RunningApp

SHOTS = ROOT / ".pytest_cache" / "screenshots"

# Every cell of the attention table as (row, column, weight), from the titles the page gives them.
CELLS = """() => [...document.querySelectorAll('#lab-attention table.lm-heatmap tr')].slice(1).flatMap(
    (tr, i) => [...tr.querySelectorAll('td')].map((td, j) => [i, j, parseFloat(td.title)]))"""


def _not_blank(path) -> bool:
    image = Image.open(path).convert("L")
    low, high = image.getextrema()
    return high - low > 50 and len(set(image.getdata())) > 20


def test_lab_views_show_what_they_claim(page, running_app: RunningApp) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(running_app.url)
    page.get_by_role("tab", name="Lab").click()
    page.get_by_role("button", name="Tokenize").click()
    page.locator("#lab-tokens .lm-token").first.wait_for(timeout=60000)
    assert page.locator("#lab-tokens h4").count() == 2

    page.get_by_role("tab", name="Next token").click()
    page.get_by_role("button", name="Show distribution").click()
    page.locator("#lab-next").get_by_text("Paris").first.wait_for(timeout=60000)  # an axis tick of the bar chart

    page.get_by_role("tab", name="Attention").click()
    page.get_by_role("button", name="Show attention").click()
    page.locator("#lab-attention table.lm-heatmap").wait_for(timeout=120000)
    cells = page.evaluate(CELLS)
    upper = [w for i, j, w in cells if j > i]
    lower = [w for i, j, w in cells if j <= i]
    assert len(cells) > 20 and upper and all(w == 0 for w in upper), "a GPT token never attends to later tokens"
    assert sum(lower) > 0.9 * (1 + max(i for i, _, _ in cells)), "each row's weights sum to about 1"

    page.get_by_role("tab", name="Embeddings").click()
    page.get_by_role("button", name="Compare").click()
    page.locator("#lab-similarity table.lm-heatmap").wait_for(timeout=60000)
    similar = page.evaluate("""() => [...document.querySelectorAll('#lab-similarity table.lm-heatmap tr')].slice(1)
        .map(tr => [...tr.querySelectorAll('td')].map(td => parseFloat(td.title)))""")
    assert similar[0][1] > similar[0][2] and similar[2][3] > similar[2][1], "cat~kitten and stocks~markets"
    for sentence in ("A cat sits on the mat.", "Markets dropped on Monday."):
        page.locator("#lab-pca").get_by_text(sentence).first.wait_for(timeout=60000)  # the scatter's legend
    page.locator("#lab-pca").screenshot(path=str(SHOTS / "lab-embeddings.png"))
    assert _not_blank(SHOTS / "lab-embeddings.png")
