"""The Lab's plots render in the browser (screenshots checked to be non-blank)."""

from __future__ import annotations

from PIL import Image

from tests.conftest import ROOT, RunningApp

SHOTS = ROOT / ".pytest_cache" / "screenshots"


def _not_blank(path) -> bool:
    image = Image.open(path).convert("L")
    low, high = image.getextrema()
    return high - low > 50 and len(set(image.getdata())) > 20


def test_lab_views_render(page, running_app: RunningApp) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(running_app.url)
    page.get_by_role("tab", name="Lab").click()
    page.get_by_role("button", name="Tokenize").click()
    page.locator("#lab-tokens .lm-token").first.wait_for(timeout=60000)
    assert page.locator("#lab-tokens h4").count() == 2

    page.get_by_role("tab", name="Next token").click()
    page.get_by_role("button", name="Show distribution").click()
    page.locator("#lab-next canvas, #lab-next svg").first.wait_for(timeout=60000)
    page.wait_for_timeout(1500)
    page.locator("#lab-next").screenshot(path=str(SHOTS / "lab-next.png"))
    assert _not_blank(SHOTS / "lab-next.png")

    page.get_by_role("tab", name="Attention").click()
    page.get_by_role("button", name="Show attention").click()
    page.locator("#lab-attention table.lm-heatmap").wait_for(timeout=120000)
    page.locator("#lab-attention").screenshot(path=str(SHOTS / "lab-attention.png"))
    assert _not_blank(SHOTS / "lab-attention.png")

    page.get_by_role("tab", name="Embeddings").click()
    page.get_by_role("button", name="Compare").click()
    page.locator("#lab-similarity table.lm-heatmap").wait_for(timeout=60000)
    page.locator("#lab-pca canvas, #lab-pca svg").first.wait_for(timeout=60000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "lab-embeddings.png"), full_page=True)
    assert _not_blank(SHOTS / "lab-embeddings.png")
