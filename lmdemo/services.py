"""Wires the settings to the model layer and the services; the UI and the CLIs start here."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from lmdemo.chat.service import ChatService
from lmdemo.docqa.service import DocQAConfig, DocQAService
from lmdemo.lab.service import LabService
from lmdemo.models.backend import LocalChatBackend
from lmdemo.models.embedding import LocalEmbedder
from lmdemo.models.manager import ModelManager
from lmdemo.runtime import limit_blas_threads
from lmdemo.settings import Settings
from lmdemo.tasks.service import ClassifyService, SummarizeService


@dataclass
class Services:
    """Everything the tabs call; shared by all users, holding no per-user state."""

    settings: Settings
    models: ModelManager
    chat: ChatService
    docqa: DocQAService
    classify: ClassifyService
    summarize: SummarizeService
    lab: LabService

    def preload(self) -> threading.Thread:
        """Load the models in the background so the first request does not wait for them."""

        def load() -> None:
            self.models.chat()
            self.models.encoder()

        thread = threading.Thread(target=load, name="lmdemo-preload", daemon=True)
        thread.start()
        return thread


def docqa_config(settings: Settings) -> DocQAConfig:
    if settings.docqa_mode not in ("hybrid", "dense", "bm25"):
        raise ValueError(f"docqa_mode must be hybrid, dense or bm25, not {settings.docqa_mode!r}")
    return DocQAConfig(
        chunk_tokens=settings.docqa_chunk_tokens,
        overlap_tokens=settings.docqa_overlap_tokens,
        top_k=settings.docqa_top_k,
        mode=settings.docqa_mode,  # type: ignore[arg-type]
        min_relevance=settings.docqa_min_relevance,
        max_file_mb=settings.max_upload_mb,
    )


def build_services(settings: Settings) -> Services:
    limit_blas_threads()
    models = ModelManager(settings)
    backend = LocalChatBackend(models)
    embedder = LocalEmbedder(models)
    return Services(
        settings=settings,
        models=models,
        chat=ChatService(backend),
        docqa=DocQAService(embedder, backend, docqa_config(settings)),
        classify=ClassifyService(
            embedder, settings, backend, (lambda: models.nli().model) if settings.zero_shot_model else None
        ),
        summarize=SummarizeService(embedder, backend),
        lab=LabService(models, embedder),
    )
