"""OpenAI-compatible routes (`/v1/chat/completions`, `/v1/models`, `/v1/embeddings`).

They call the same services as the tabs (and so the same batching scheduler), and are
mounted on the Gradio server, so the official `openai` client, LangChain, or a second lmdemo
in the remote profile can use this app as an engine.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from lmdemo.chat.service import ReplyUpdate
from lmdemo.errors import ServerBusyError, UserError
from lmdemo.limits import RateLimitError
from lmdemo.logs import request_log
from lmdemo.models.types import Message, SamplingParams
from lmdemo.settings import auth_users
from lmdemo.text import clean_user_text

if TYPE_CHECKING:
    from lmdemo.services import Services

MAX_EMBEDDING_INPUTS = 2048


class ContentPart(BaseModel):
    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[ContentPart] | None = None

    def as_message(self) -> Message:
        content = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content or [])
        return {"role": "system" if self.role == "developer" else self.role, "content": clean_user_text(content)}


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    repetition_penalty: float | None = Field(default=None, ge=1.0, le=2.0)
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=1)

    def stops(self) -> tuple[str, ...]:
        """Up to 4 non-empty stop strings, as OpenAI takes them."""
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return tuple(s for s in stops if s)[:4]


class EmbeddingRequest(BaseModel):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"


def _error(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None) -> JSONResponse:
    """An error in OpenAI's shape, which the official clients parse into their exceptions."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": status}},
                        status_code=status)


def exception_handlers() -> dict[Any, Callable[..., Awaitable[Response]]]:
    """For the FastAPI app: /v1's bad bodies (400) and missing keys (401) in OpenAI's shape, not
    FastAPI's `{"detail": ...}`; every other route keeps FastAPI's own handling."""
    from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
    from fastapi.exceptions import RequestValidationError

    async def invalid_body(request: Request, error: RequestValidationError) -> Response:
        if not request.url.path.startswith("/v1/"):
            return await request_validation_exception_handler(request, error)
        problems = error.errors()
        first = problems[0] if problems else {}
        param = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
        message = first.get("msg", "invalid request body")
        return _error(400, f"{param}: {message}" if param else message, param=param)

    async def http_error(request: Request, error: HTTPException) -> Response:
        if not request.url.path.startswith("/v1/"):
            return await http_exception_handler(request, error)
        kind = {401: "authentication_error", 429: "rate_limit_error"}.get(error.status_code, "invalid_request_error")
        return _error(error.status_code, str(error.detail), kind)

    return {RequestValidationError: invalid_body, HTTPException: http_error}


def _refusal(error: UserError) -> JSONResponse:
    """A request the user can fix (400) or retry later (429, every slot busy)."""
    if isinstance(error, ServerBusyError):
        return _error(429, str(error), "rate_limit_error")
    return _error(400, str(error))


def _params(services: Services, request: ChatCompletionRequest) -> SamplingParams:
    s = services.settings
    max_new = request.max_completion_tokens or request.max_tokens or s.max_new_tokens
    return SamplingParams(
        temperature=s.temperature if request.temperature is None else request.temperature,
        top_p=s.top_p if request.top_p is None else request.top_p,
        top_k=s.top_k if request.top_k is None else request.top_k,
        max_new_tokens=min(max_new, s.max_new_tokens_limit),
        repetition_penalty=s.repetition_penalty if request.repetition_penalty is None else request.repetition_penalty,
        stop=request.stops(),
    )


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def build_router(services: Services) -> APIRouter:
    """The `/v1` routes over `services`; with `--auth`, they want `Authorization: Bearer USER:PASSWORD`."""
    keys = {f"{user}:{password}" for user, password in auth_users(services.settings.auth)}

    def check_key(authorization: str | None = Header(default=None)) -> None:
        if keys and (authorization or "").removeprefix("Bearer ").strip() not in keys:
            raise HTTPException(401, "send Authorization: Bearer USER:PASSWORD (this app was started with --auth)")

    def limit_rate(request: Request, authorization: str | None = Header(default=None)) -> None:
        """The app's per-minute limit, per API key (with --auth) or else per client address."""
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        client = forwarded or (request.client.host if request.client else "")
        key = (authorization or "").removeprefix("Bearer ").strip() if keys else ""
        try:
            services.limiter.check(f"v1 key {key}" if key else f"v1 client {client}")
        except RateLimitError as error:
            raise HTTPException(429, str(error)) from None

    router = APIRouter(prefix="/v1", dependencies=[Depends(check_key), Depends(limit_rate)])

    def chat_models() -> dict[str, str]:
        """Loaded chat models by the id clients send: the model's name, or the pool's key where two
        loaded variants share a name (one model on two engines)."""
        pool = services.models
        names = {key: pool.model_name(key) for key in pool.chat_models()}
        shared = Counter(names.values())
        return {(name if shared[name] == 1 else key): key for key, name in names.items()}

    def embedding_model() -> str:
        return services.models.encoder().report.name

    @router.get("/models")
    def list_models() -> dict[str, Any]:
        created = int(time.time())
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": created, "owned_by": "lmdemo", "engine": engine}
                for name, engine in ([(id_, services.models.backend(key).engine) for id_, key in chat_models().items()]
                                     + [(embedding_model(), services.models.encoder().report.engine)])
            ],
        }

    @router.post("/chat/completions", response_model=None)
    def chat_completions(request: ChatCompletionRequest) -> JSONResponse | StreamingResponse:
        served = chat_models()
        key = served.get(request.model) or (request.model if request.model in served.values() else None)
        if key is None:
            return _error(404, f"model {request.model!r} is not served here; GET /v1/models lists {', '.join(served)}")
        messages = [m.as_message() for m in request.messages]
        updates = services.chat.complete(messages, _params(services, request), model=key)
        if request.stream:
            return _stream(request, messages, updates)
        with request_log("/v1/chat/completions", prompt=messages[-1]["content"]) as record:
            try:
                last = None
                for last in updates:
                    pass
            except UserError as error:
                return _refusal(error)
            stats = last.stats
            record.update(stats.log_fields())
            return JSONResponse(
                {
                    "id": f"chatcmpl-{uuid.uuid4().hex}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": last.text},
                            "finish_reason": _finish(stats.finish_reason),
                        }
                    ],
                    "usage": _usage(stats.prompt_tokens, stats.completion_tokens),
                }
            )

    @router.post("/embeddings", response_model=None)
    def embeddings(request: EmbeddingRequest) -> JSONResponse | dict[str, Any]:
        if request.model != embedding_model():
            return _error(404, f"model {request.model!r} is not served here; GET /v1/models lists {embedding_model()!r}")
        texts = [request.input] if isinstance(request.input, str) else request.input
        if not texts or len(texts) > MAX_EMBEDDING_INPUTS:
            return _error(400, f"input must hold 1 to {MAX_EMBEDDING_INPUTS} texts")
        texts = [clean_user_text(t) for t in texts]
        with request_log("/v1/embeddings") as record:
            vectors = services.embedder.embed(texts)
            tokenizer = services.embedder.tokenizer()
            tokens = sum(len(ids) for ids in tokenizer(texts, truncation=True)["input_ids"])
            record.update(model=embedding_model(), inputs=len(texts), prompt_tokens=tokens)
        return {
            "object": "list",
            "model": embedding_model(),
            "data": [
                {"object": "embedding", "index": i, "embedding": _encode(v, request.encoding_format)}
                for i, v in enumerate(vectors)
            ],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    return router


def _finish(reason: str) -> str:
    return "length" if reason == "length" else "stop"


def _stream(
    request: ChatCompletionRequest, messages: list[Message], updates: Iterator[ReplyUpdate]
) -> JSONResponse | StreamingResponse:
    """Server-sent events in OpenAI's chunk format; errors before the first token get a status code."""
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    try:
        first = next(updates)
    except UserError as error:
        return _refusal(error)

    def chunk(delta: dict[str, str], finish: str | None = None, usage: dict | None = None) -> str:
        body: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": request.model,
            "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage:
            body["usage"] = usage
        return f"data: {json.dumps(body)}\n\n"

    def events() -> Iterator[str]:
        sent = ""
        yield chunk({"role": "assistant", "content": ""})
        with request_log("/v1/chat/completions", prompt=messages[-1]["content"]) as record:
            try:
                for update in itertools.chain([first], updates):
                    if len(update.text) > len(sent):
                        yield chunk({"content": update.text[len(sent) :]})
                        sent = update.text
                    if update.stats is None:
                        continue
                    stats = update.stats
                    record.update(stats.log_fields())
                    yield chunk({}, _finish(stats.finish_reason))
                    if request.stream_options and request.stream_options.include_usage:
                        yield chunk({}, usage=_usage(stats.prompt_tokens, stats.completion_tokens))
            except Exception as error:  # the status line is already sent: report in-band, as OpenAI does
                record["error"] = str(error)[:300]
                yield f"data: {json.dumps({'error': {'message': str(error), 'type': 'server_error'}})}\n\n"
            finally:
                updates.close()
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def _encode(vector: Any, encoding: str) -> list[float] | str:
    """A list of floats, or (what the openai client asks for) base64 of little-endian float32."""
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()
