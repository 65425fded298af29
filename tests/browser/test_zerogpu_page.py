"""On a (simulated) ZeroGPU Space, in a real browser: when ZeroGPU has no GPU for a visitor, the chat
says so in a red reply, and the next message is answered as usual."""

from __future__ import annotations

from tests.conftest import RunningApp
from tests.zerogpu.device_api import DeviceAPI


def test_zerogpu_quota_message_is_a_red_reply_and_the_chat_goes_on(page, zerogpu_app: RunningApp,
                                                                   device_api: DeviceAPI) -> None:
    device_api.refuse_next = 1
    page.goto(zerogpu_app.url)
    box = page.get_by_placeholder("Type a message and press Enter")
    box.fill("hi")
    box.press("Enter")
    error = page.locator("#chatbot .lm-error")
    error.first.wait_for(timeout=60000)
    assert "No GPU for this request right now: Space app has reached its GPU limit" in error.first.inner_text()
    assert "Traceback" not in page.locator("#chatbot").inner_text()
    box = page.locator("textarea").first
    box.fill("hello")
    box.press("Enter")
    page.locator("#chatbot .lm-status").first.wait_for(timeout=60000)
    assert page.locator("#chatbot .bot").last.inner_text().strip()
