"""LoRA training of the generator on validated chat records (peft; QLoRA on CUDA).

Loss is computed on the assistant turn only (the prompt is context, not a target), one
example per forward pass so no compute is spent on padding, with gradient accumulation.
Checkpoints (adapter, optimizer, step, data order) are written atomically every
``save_every`` steps so an interrupted run resumes where it stopped. Evaluation loss on the
validation split drives early stopping and picks the adapter that is saved.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from adapters.finetune.records import Record
from adapters.model_store import model_hash
from adapters.registry import METADATA_FILE

CHECKPOINTS = "checkpoints"


@dataclass
class TrainConfig:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    learning_rate: float = 3e-4
    epochs: float = 1.0
    max_steps: int | None = None  # optimizer steps; overrides epochs
    grad_accum: int = 8
    warmup_steps: int = 10
    eval_every: int = 25
    eval_examples: int = 48
    patience: int = 3
    save_every: int = 25
    max_minutes: float | None = None
    stop_at_step: int | None = None  # stop (and save) here without changing the learning-rate schedule
    seed: int = 0
    bf16: bool | None = None  # None: bf16 autocast on CUDA, and on CPUs with AMX/AVX512-BF16
    qlora: bool = False
    top_layers: int | None = None  # adapt only the top N layers: backward stops below them


# What a run is: a checkpoint made with other values (or other data) cannot be continued.
# Stopping points and evaluation cadence may change between the stop and the resume.
RUN_DEFINING = ("rank", "alpha", "dropout", "target_modules", "learning_rate", "epochs", "max_steps", "grad_accum",
                "warmup_steps", "seed", "qlora", "top_layers")


class ResumeMismatch(ValueError):
    """The checkpoint belongs to a run with other data or settings."""


def check_resumable(saved: dict[str, Any], config: TrainConfig, data_hash: str | None) -> None:
    before, now = saved.get("config") or {}, asdict(config)
    changed = [f"{key} {before.get(key)!r} -> {now[key]!r}" for key in RUN_DEFINING if key in before and _same(before[key]) != _same(now[key])]
    if data_hash is not None and saved.get("data_hash") not in (None, data_hash):
        changed.insert(0, "the training data")
    if changed:
        raise ResumeMismatch(f"the checkpoint was made with different {', '.join(changed)}")


def _same(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass
class TrainResult:
    steps: int
    examples_seen: int
    tokens_seen: int
    seconds: float
    train_loss: float
    eval_losses: list[tuple[int, float]] = field(default_factory=list)
    best_eval_loss: float | None = None
    initial_eval_loss: float | None = None
    stopped_because: str = "done"

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_seen / self.seconds if self.seconds else 0.0


def cpu_has_fast_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


class _Encoded:
    """A record as token ids: prompt (chat template up to the assistant turn) + completion."""

    def __init__(self, tokenizer, record: Record) -> None:
        prompt = tokenizer.apply_chat_template(record.messages[:-1], add_generation_prompt=True, tokenize=True, return_dict=True)
        self.prompt = list(prompt["input_ids"])
        self.completion = tokenizer.encode(record.answer, add_special_tokens=False) + [tokenizer.eos_token_id]

    def __len__(self) -> int:
        return len(self.prompt) + len(self.completion)


def _loss(model, item: _Encoded, device: str, autocast: bool):
    import torch

    ids = torch.tensor([item.prompt + item.completion], device=device)
    labels = torch.tensor(item.completion, device=device)
    with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=autocast):
        # Logits only for the positions that predict the completion (the LM head is costly).
        logits = model(input_ids=ids, logits_to_keep=len(item.completion) + 1).logits[0, :-1]
    return torch.nn.functional.cross_entropy(logits.float(), labels)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run folder, if any."""
    root = Path(run_dir) / CHECKPOINTS
    steps = sorted((int(p.name.split("-")[1]), p) for p in root.glob("step-*") if (p / "trainer.pt").is_file()) if root.is_dir() else []
    return steps[-1][1] if steps else None


class Trainer:
    def __init__(self, model_dir: Path, out_dir: Path, config: TrainConfig, device: str = "cpu") -> None:
        self.model_dir = Path(model_dir)
        self.out_dir = Path(out_dir)
        self.config = config
        self.device = device

    def _model(self):
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        kwargs: dict[str, Any] = {"dtype": torch.float32}
        if self.config.qlora:
            if self.device != "cuda":
                raise ValueError("QLoRA needs a CUDA GPU (bitsandbytes 4-bit); train plain LoRA on CPU")
            from transformers import BitsAndBytesConfig

            kwargs = {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_type="nf4")}
        model = AutoModelForCausalLM.from_pretrained(self.model_dir, **kwargs)
        if not self.config.qlora:
            model = model.to(self.device)
        else:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model)
        layers = None
        if self.config.top_layers:
            total = model.config.num_hidden_layers
            layers = list(range(max(0, total - self.config.top_layers), total))
        lora = LoraConfig(r=self.config.rank, lora_alpha=self.config.alpha, lora_dropout=self.config.dropout,
                          target_modules=list(self.config.target_modules), layers_to_transform=layers, task_type="CAUSAL_LM")
        return tokenizer, get_peft_model(model, lora)

    def train(self, train: list[Record], val: list[Record], progress: Callable[[int, int, dict[str, float]], None] | None = None,
              resume: bool = True, data_hash: str | None = None) -> TrainResult:
        """Train, continuing from the latest checkpoint when ``resume`` (it must come from the same
        data and run-defining settings: :class:`ResumeMismatch` otherwise)."""
        import torch
        from peft import set_peft_model_state_dict

        cfg = self.config
        random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        autocast = cfg.bf16 if cfg.bf16 is not None else (self.device == "cuda" or cpu_has_fast_bf16())
        tokenizer, model = self._model()
        train_items = [_Encoded(tokenizer, r) for r in train]
        val_items = [_Encoded(tokenizer, r) for r in val][: cfg.eval_examples]
        order = list(range(len(train_items)))
        random.Random(cfg.seed).shuffle(order)
        per_epoch = max(1, len(order) // cfg.grad_accum)
        total_steps = cfg.max_steps or max(1, math.ceil(per_epoch * cfg.epochs))
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(cfg.warmup_steps, 1)) * max(0.05, 1 - s / total_steps))

        state = {"step": 0, "examples": 0, "tokens": 0, "seconds": 0.0, "eval_losses": [], "best": None, "bad_evals": 0,
                 "train_loss_ema": None, "initial_eval": None}
        best_weights = None
        checkpoint = self.latest_checkpoint() if resume else None
        if checkpoint is not None:
            saved = torch.load(checkpoint / "trainer.pt", weights_only=False)
            check_resumable(saved, cfg, data_hash)
            set_peft_model_state_dict(model, saved["adapter"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            state = saved["state"]
            order = saved["order"]
            best_weights = saved.get("best_weights")

        def evaluate() -> float:
            model.eval()
            with torch.no_grad():
                losses = [_loss(model, item, self.device, autocast).item() for item in val_items]
            model.train()
            return sum(losses) / max(len(losses), 1)

        if state["initial_eval"] is None and val_items:
            state["initial_eval"] = evaluate()
        model.train()
        started = time.perf_counter() - state["seconds"]
        session_started = time.perf_counter()  # --max-minutes counts this run (a resumed run got one step)
        stopped = "done"
        last_step = min(total_steps, cfg.stop_at_step or total_steps)
        if last_step < total_steps:
            stopped = f"stopped at step {last_step} as asked (the schedule runs to {total_steps})"
        while state["step"] < last_step:
            optimizer.zero_grad()
            batch_loss = 0.0
            for _ in range(cfg.grad_accum):
                item = train_items[order[state["examples"] % len(order)]]
                loss = _loss(model, item, self.device, autocast) / cfg.grad_accum
                loss.backward()
                batch_loss += loss.item()
                state["examples"] += 1
                state["tokens"] += len(item)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            state["step"] += 1
            ema = state["train_loss_ema"]
            state["train_loss_ema"] = batch_loss if ema is None else 0.9 * ema + 0.1 * batch_loss
            state["seconds"] = time.perf_counter() - started
            metrics = {"loss": batch_loss, "tokens_per_s": state["tokens"] / max(state["seconds"], 1e-9)}
            out_of_time = cfg.max_minutes is not None and time.perf_counter() - session_started > cfg.max_minutes * 60
            if val_items and (state["step"] % cfg.eval_every == 0 or state["step"] in (total_steps, last_step) or out_of_time):
                value = evaluate()
                state["eval_losses"].append((state["step"], value))
                metrics["eval_loss"] = value
                if state["best"] is None or value < state["best"]:
                    state["best"], state["bad_evals"] = value, 0
                    best_weights = _lora_weights(model)
                else:
                    state["bad_evals"] += 1
            if progress:
                progress(state["step"], total_steps, metrics)
            early = val_items and state["bad_evals"] >= cfg.patience
            if state["step"] % cfg.save_every == 0 or out_of_time or early or state["step"] in (total_steps, last_step):
                self._checkpoint(model, optimizer, scheduler, state, order, best_weights, data_hash)
            if early:
                stopped = f"early stopping: eval loss did not improve for {cfg.patience} evaluations"
                break
            if out_of_time:
                stopped = f"time limit of {cfg.max_minutes} minutes reached (resume with the same command)"
                break
        if best_weights is not None:
            set_peft_model_state_dict(model, best_weights)
        self._result_model = model
        self._tokenizer = tokenizer
        return TrainResult(state["step"], state["examples"], state["tokens"], state["seconds"], state["train_loss_ema"] or 0.0,
                           [tuple(x) for x in state["eval_losses"]], state["best"], state["initial_eval"], stopped)

    # --- checkpoints ------------------------------------------------------------------
    def latest_checkpoint(self) -> Path | None:
        return latest_checkpoint(self.out_dir)

    def _checkpoint(self, model, optimizer, scheduler, state, order, best_weights, data_hash: str | None = None) -> None:
        import torch
        from peft import get_peft_model_state_dict

        root = self.out_dir / CHECKPOINTS
        root.mkdir(parents=True, exist_ok=True)
        final = root / f"step-{state['step']}"
        work = root / f".tmp-step-{state['step']}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        torch.save({"adapter": get_peft_model_state_dict(model), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "state": state, "order": order, "best_weights": best_weights, "config": asdict(self.config), "data_hash": data_hash},
                   work / "trainer.pt")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work, final)
        for old in sorted(root.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))[:-2]:
            shutil.rmtree(old, ignore_errors=True)

    def save_adapter(self, target: Path, metadata: dict[str, Any]) -> Path:
        """The (best) adapter in ``target`` with its metadata, written atomically."""
        target = Path(target)
        work = target.parent / f".{target.name}.tmp"
        shutil.rmtree(work, ignore_errors=True)
        self._result_model.save_pretrained(work)
        (work / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
        return target


def _lora_weights(model) -> dict[str, Any]:
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


def metadata(model_dir: Path, data_hash: str, config: TrainConfig, result: TrainResult, counts: dict[str, int], device: str) -> dict[str, Any]:
    return {
        "base_model": Path(model_dir).name,
        "base_model_path": str(model_dir),
        "base_model_sha256": model_hash(Path(model_dir)),
        "data_sha256": data_hash,
        "data_counts": counts,
        "settings": asdict(config),
        "device": device,
        "metrics": {
            "steps": result.steps,
            "examples_seen": result.examples_seen,
            "tokens_seen": result.tokens_seen,
            "train_seconds": round(result.seconds, 1),
            "tokens_per_s": round(result.tokens_per_s, 1),
            "train_loss": round(result.train_loss, 4),
            "initial_eval_loss": None if result.initial_eval_loss is None else round(result.initial_eval_loss, 4),
            "best_eval_loss": None if result.best_eval_loss is None else round(result.best_eval_loss, 4),
            "eval_losses": [[s, round(v, 4)] for s, v in result.eval_losses],
            "stopped_because": result.stopped_because,
        },
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
