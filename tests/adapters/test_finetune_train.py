"""A tiny LoRA run on CPU: the loss goes down, checkpoints resume, the adapter loads and switches."""

import json

import pytest

from adapters.finetune.records import Record
from adapters.finetune.train import ResumeMismatch, TrainConfig, Trainer, check_resumable, metadata
from adapters.prompt import build_messages
from adapters.base import Passage
from adapters.registry import METADATA_FILE

pytestmark = pytest.mark.slow

FACTS = [("Normandy", "France"), ("Rollo", "Denmark"), ("Bayeux", "Normandy"), ("Hastings", "England")]


def examples():
    out = []
    for i, (place, answer) in enumerate(FACTS):
        messages = build_messages(f"Where is {place}?", [Passage(1, "Facts", f"{place} is in {answer}.")])
        out.append(Record(messages + [{"role": "assistant", "content": f"{answer} [1]."}], {"doc_ids": [f"d{i}"]}, line=i + 1))
    return out


def config(steps, stop_at=None):
    return TrainConfig(rank=4, alpha=8, learning_rate=1e-2, max_steps=steps, stop_at_step=stop_at, grad_accum=2, warmup_steps=1, top_layers=4,
                       eval_every=2, eval_examples=4, save_every=2, patience=5, bf16=False, seed=0)


def test_tiny_lora_run_lowers_the_loss_resumes_and_saves_a_loadable_adapter(smol_dir, tmp_path, local_generator):
    data = examples()
    runs = tmp_path / "run"
    first = Trainer(smol_dir, runs, config(4, stop_at=2)).train(data, data, data_hash="h1")  # same schedule, stopped half way
    assert first.steps == 2 and (runs / "checkpoints" / "step-2" / "trainer.pt").is_file()
    assert "stopped at step 2" in first.stopped_because

    with pytest.raises(ResumeMismatch, match="the training data"):  # other data cannot continue this run
        Trainer(smol_dir, runs, config(4)).train(data[:3], data, data_hash="h2")
    trainer = Trainer(smol_dir, runs, config(4))
    result = trainer.train(data, data, data_hash="h1")  # resumes at step 2 rather than starting over
    assert result.steps == 4 and result.examples_seen == 8
    assert result.initial_eval_loss == first.initial_eval_loss
    assert result.best_eval_loss < result.initial_eval_loss
    assert result.tokens_per_s > 0

    registry = local_generator.registry
    meta = metadata(smol_dir, "datahash", trainer.config, result, {"train": 4, "val": 4}, "cpu")
    target = trainer.save_adapter(registry.adapters_dir / "tiny", meta)
    saved = json.loads((target / METADATA_FILE).read_text())
    assert saved["base_model_sha256"] and saved["data_sha256"] == "datahash"
    assert saved["metrics"]["best_eval_loss"] < saved["metrics"]["initial_eval_loss"]
    assert saved["settings"]["rank"] == 4

    override = local_generator.settings.with_overrides({"adapter": "tiny"})
    tuned = local_generator.generate("Where is Normandy?", [Passage(1, "Facts", "Normandy is in France.")], settings=override)
    assert tuned.adapter == "tiny" and tuned.text


def test_a_checkpoint_resumes_only_the_run_it_came_from():
    saved = {"config": {**config(4).__dict__, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}, "data_hash": "h1"}
    check_resumable(saved, config(4, stop_at=3), "h1")  # a later stopping point is the same run
    with pytest.raises(ResumeMismatch, match=r"rank 4 -> 8, learning_rate 0.01 -> 0.001"):
        check_resumable(saved, TrainConfig(**{**config(4).__dict__, "rank": 8, "learning_rate": 1e-3}), "h1")
    with pytest.raises(ResumeMismatch, match="the training data"):
        check_resumable(saved, config(4), "h2")


def test_the_shipped_adapter_fits_the_freshly_converted_model_and_answers(local_generator):
    """The hash in its metadata must match this machine's conversion, or it would be refused."""
    from adapters.registry import AdapterRegistry

    shipped = AdapterRegistry(local_generator.registry.adapters_dir).list()
    assert shipped, "adapters/pretrained is empty"
    for info in shipped:
        assert local_generator.load().fits(info), f"{info.name} was trained on another conversion of the base model"
    passage = Passage(1, "Leave policy", "Full-time staff get 28 days of annual leave a year, including bank holidays.")
    override = local_generator.settings.with_overrides({"adapter": shipped[0].name})
    original = local_generator.registry
    local_generator.registry = AdapterRegistry(original.adapters_dir)  # with the shipped adapters
    try:
        answer = local_generator.generate("How many days of annual leave do I get?", [passage], settings=override)
    finally:
        local_generator.registry = original
    assert answer.adapter == shipped[0].name and "28" in answer.text and "[1]" in answer.text


@pytest.mark.slow
def test_a_resumed_run_gets_its_own_time_limit(smol_dir, tmp_path):
    """--max-minutes was compared with the time of every run so far: each rerun did one step."""
    import torch

    data = examples()
    runs = tmp_path / "run"
    Trainer(smol_dir, runs, config(4, stop_at=1)).train(data, data, data_hash="h1")
    [checkpoint] = list((runs / "checkpoints").glob("step-*/trainer.pt"))
    saved = torch.load(checkpoint, weights_only=False)
    saved["state"]["seconds"] = 10 * 3600.0  # as if earlier runs had trained for ten hours
    torch.save(saved, checkpoint)
    limited = TrainConfig(**{**config(4).__dict__, "max_minutes": 30.0})
    result = Trainer(smol_dir, runs, limited).train(data, data, data_hash="h1")
    assert result.steps == 4 and "time limit" not in result.stopped_because
