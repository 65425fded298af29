"""The chat service on a tiny random Llama through the local backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lmdemo.chat.service import ChatService, ReplyStats, build_messages
from lmdemo.errors import UserError
from lmdemo.models.backend import LocalChatBackend
from lmdemo.models.manager import ModelManager
from lmdemo.models.types import BatchingConfig
from lmdemo.models.types import SamplingParams
from lmdemo.settings import Settings
from lmdemo.ui.chat import ERROR_OPEN, STATUS_CLOSE, STATUS_OPEN, strip_status


@pytest.fixture(scope="module")
def service(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ChatService:
    settings = Settings(chat_model=str(tiny_llama_dir), device="cpu", cache_dir=tmp_path_factory.mktemp("c"))
    return ChatService(LocalChatBackend(ModelManager(settings), BatchingConfig(kv_cache_tokens=4096)))


def test_build_messages_orders_system_history_and_message() -> None:
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert build_messages("Be kind.\x00", history, "bye") == [
        {"role": "system", "content": "Be kind."},
        *history,
        {"role": "user", "content": "bye"},
    ]
    assert build_messages("  ", [], "x") == [{"role": "user", "content": "x"}]


def test_the_default_system_prompt_follows_the_language_of_the_question() -> None:
    from lmdemo.settings import DEFAULT_SYSTEM_PROMPT, DEFAULT_SYSTEM_PROMPT_ZH

    assert build_messages(DEFAULT_SYSTEM_PROMPT, [], "什么是注意力？")[0]["content"] == DEFAULT_SYSTEM_PROMPT_ZH
    assert build_messages(DEFAULT_SYSTEM_PROMPT, [], "What is attention?")[0]["content"] == DEFAULT_SYSTEM_PROMPT
    assert build_messages("Answer like a pirate.", [], "什么是注意力？")[0]["content"] == "Answer like a pirate."
    assert build_messages(DEFAULT_SYSTEM_PROMPT, [], "注意力とは何ですか？")[0]["content"] == DEFAULT_SYSTEM_PROMPT  # Japanese


def test_reply_streams_a_growing_text_and_ends_with_stats(service: ChatService) -> None:
    updates = list(service.reply("hello", [], "Be brief.", SamplingParams(temperature=0, max_new_tokens=10)))
    texts = [u.text for u in updates]
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
    stats = updates[-1].stats
    assert stats is not None and all(u.stats is None for u in updates[:-1])
    assert stats.completion_tokens == 10 and stats.finish_reason == "length"
    assert stats.model.startswith("tiny-llama")
    assert stats.seconds >= stats.first_token_seconds > 0
    assert "10 tokens" in stats.summary() and "tok/s" in stats.summary()


def test_empty_message_is_a_user_error(service: ChatService) -> None:
    with pytest.raises(UserError, match="Type a message"):
        list(service.reply(" \x00 ", [], "", SamplingParams()))


def test_tokens_per_second_counts_decode_time_only() -> None:
    stats = ReplyStats("m", 5, 11, seconds=3.0, first_token_seconds=1.0, finish_reason="stop")
    assert stats.tokens_per_second == pytest.approx(5.0)
    assert "stopped" in ReplyStats("m", 5, 2, 1.0, 0.5, "cancelled").summary()


def test_status_footer_is_removed_from_history() -> None:
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": f"hello{STATUS_OPEN}3 tokens{STATUS_CLOSE}"},
        {"role": "assistant", "content": {"path": "image.png"}},
    ]
    assert strip_status(history) == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def test_ui_modules_do_not_import_torch() -> None:
    code = "import sys, lmdemo.ui.layout, lmdemo.ui.chat; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_failed_turns_do_not_reach_the_model() -> None:
    history = [
        {"role": "user", "content": "spam " * 100},
        {"role": "assistant", "content": f"{ERROR_OPEN}⚠️ too long{STATUS_CLOSE}"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    assert strip_status(history) == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
