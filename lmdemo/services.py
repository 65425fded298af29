"""Wires the settings to the model layer and the services; the UI and the CLIs start here."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from lmdemo.chat.service import ChatService
from lmdemo.docqa.index import Embedder
from lmdemo.docqa.service import DocQAConfig, DocQAService
from lmdemo.lab.service import LabService
from lmdemo.hosting.zerogpu import ZeroGPURunner
from lmdemo.limits import RateLimiter, Slots
from lmdemo.models.backend import ChatBackend, LocalChatBackend, PerCallChatBackend
from lmdemo.models.embedding import LocalEmbedder
from lmdemo.models.llamacpp.backend import LlamaCppChatBackend
from lmdemo.models.llamacpp.model import physical_cores
from lmdemo.models.management import ModelManagement
from lmdemo.models.manager import ModelManager
from lmdemo.models.pool import ModelPool
from lmdemo.models.remote import RemoteChatBackend, RemoteEmbedder
from lmdemo.models.runner import InProcessRunner, ModelRunner
from lmdemo.models.types import BatchingConfig
from lmdemo.runtime import limit_blas_threads
from lmdemo.settings import Settings
from lmdemo.tasks.service import ClassifyService, SummarizeService


@dataclass
class Services:
    """Everything the tabs call; shared by all users, holding no per-user state."""

    settings: Settings
    models: ModelPool
    chat: ChatService
    docqa: DocQAService
    classify: ClassifyService
    summarize: SummarizeService
    lab: LabService
    embedder: Embedder
    limiter: RateLimiter
    runner: ModelRunner
    management: ModelManagement

    def preload(self) -> threading.Thread:
        """Load the models in the background so the first request does not wait for them."""

        def load() -> None:
            self.models.preload()
            self.models.encoder()

        thread = threading.Thread(target=load, name="lmdemo-preload", daemon=True)
        thread.start()
        return thread


def docqa_config(settings: Settings) -> DocQAConfig:
    return DocQAConfig(
        chunk_tokens=settings.docqa_chunk_tokens,
        overlap_tokens=settings.docqa_overlap_tokens,
        top_k=settings.docqa_top_k,
        mode=settings.docqa_mode,
        min_relevance=settings.docqa_min_relevance,
        answer_sentences=settings.docqa_answer_sentences,
        max_file_mb=settings.max_upload_mb,
    )


def batching_config(settings: Settings) -> BatchingConfig:
    return BatchingConfig(
        max_running=settings.max_running,
        max_waiting=settings.max_waiting,
        kv_cache_tokens=settings.kv_cache_tokens,
        max_batch_tokens=settings.max_batch_tokens,
        kv_cache=settings.kv_cache,
    )


def _plain_encoder(models: ModelPool) -> Any:
    """The loaded encoder for SetFit to copy and train, or None when it is quantized (not trainable)."""
    encoder = models.encoder()
    return encoder.model if encoder.report.quantization == "none" else None


def build_services(settings: Settings) -> Services:
    """The hosting mode is decided here, once: which runner runs model tasks and how each chat model is served."""
    limit_blas_threads()
    runner: ModelRunner
    if settings.zero_gpu:
        runner = ZeroGPURunner(lambda: models, settings.zero_gpu_max_seconds)
    else:
        runner = InProcessRunner(lambda: models)

    def backend_for(manager: ModelManager) -> ChatBackend:
        """What serves one chat model: decided by the hosting mode, the profile and the model's engine."""
        if settings.zero_gpu:
            return PerCallChatBackend(
                manager, runner, Slots(settings.max_running, settings.max_waiting), settings.max_prompt_tokens
            )
        if settings.remote:
            return RemoteChatBackend(settings.base_url, settings.api_key, settings.chat_model)
        if manager.chat_engine == "llamacpp":
            return LlamaCppChatBackend(
                manager, batching_config(settings), settings.threads or physical_cores(), settings.max_prompt_tokens
            )
        return LocalChatBackend(manager, batching_config(settings), settings.max_prompt_tokens)

    models = ModelPool(settings, backend_for)
    embedder: Embedder
    if settings.remote and settings.remote_embedding_model:
        embedder = RemoteEmbedder(
            settings.base_url, settings.api_key, settings.remote_embedding_model, lambda: models.encoder().tokenizer
        )
    else:
        embedder = LocalEmbedder(models)
    return Services(
        settings=settings,
        models=models,
        chat=ChatService(models),
        docqa=DocQAService(embedder, models, docqa_config(settings), models.foreground),
        classify=ClassifyService(
            embedder, settings, models, runner, (lambda: models.nli().model) if settings.zero_shot_model else None,
            None if isinstance(embedder, RemoteEmbedder) else lambda: _plain_encoder(models),
            lambda: models.read_states if models.reads_states() else None, models.foreground,
        ),
        summarize=SummarizeService(models),
        embedder=embedder,
        limiter=RateLimiter(settings.rate_limit_per_minute),
        lab=LabService(models, LocalEmbedder(models), runner),
        runner=runner,
        management=ModelManagement(models, settings),
    )
