"""Wires the settings to the model layer and the services; the UI and the CLIs start here."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from lmdemo.chat.service import ChatService
from lmdemo.models.backend import LocalChatBackend
from lmdemo.models.manager import ModelManager
from lmdemo.settings import Settings


@dataclass
class Services:
    """Everything the tabs call; shared by all users, holding no per-user state."""

    settings: Settings
    models: ModelManager
    chat: ChatService

    def preload(self) -> threading.Thread:
        """Load the chat model in the background so the first message does not wait for it."""
        thread = threading.Thread(target=self.models.chat, name="lmdemo-preload", daemon=True)
        thread.start()
        return thread


def build_services(settings: Settings) -> Services:
    models = ModelManager(settings)
    return Services(settings=settings, models=models, chat=ChatService(LocalChatBackend(models)))
