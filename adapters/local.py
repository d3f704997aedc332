"""Local transformers backend: a causal LM (default SmolLM2) with an optional LoRA adapter.

The model loads on the first ``generate`` call, so questions that fall back before
generation never pay for it. Concurrent requests are batched: callers enqueue and wait,
one worker thread takes up to ``generation_batch_size`` requests that share the same
adapter and decoding settings and runs them as one left-padded ``generate`` call. Each
request carries its own deadline (``generation_timeout_s``), enforced between decoding
steps by a stopping criterion; a request that hits it fails with :class:`GeneratorError`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from adapters.base import Generation, GeneratorError, GeneratorTimeout, Passage
from adapters.model_store import model_hash, resolve_model_dir
from adapters.prompt import build_messages, fit_passages
from adapters.registry import AdapterInfo, AdapterRegistry
from bot.settings import Settings
from bot.model_loading import MODEL_LOAD_LOCK

log = logging.getLogger(__name__)

_TEMPLATE_OVERHEAD_TOKENS = 16


def pick_device(setting: str) -> str:
    import torch

    if setting == "cuda" and not torch.cuda.is_available():
        raise GeneratorError("device is 'cuda' but no CUDA GPU is available (use 'auto' or 'cpu')")
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def load_causal_lm(model_dir: Path, device: str):
    """Tokenizer and a causal LM ready for inference on ``device`` (bf16 on CUDA, fp32 on CPU).
    Callers hold MODEL_LOAD_LOCK (see bot/model_loading.py)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device)
    model.eval()
    return tokenizer, model


@dataclass
class _Request:
    prompt_ids: list[int]
    adapter: AdapterInfo | None
    max_new_tokens: int
    temperature: float
    deadline: float
    batch_size: int = 1
    batch_wait_s: float = 0.0
    future: Future = field(default_factory=Future)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.adapter.name if self.adapter else None, self.max_new_tokens, self.temperature)


class _LoadedModel:
    """The base model and tokenizer, plus LoRA adapters attached by name on first use."""

    def __init__(self, model_dir: Path, device: str) -> None:
        self.model_dir = model_dir
        self.device = device
        self.tokenizer, self.model = load_causal_lm(model_dir, device)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.name = model_dir.name
        self._adapters: set[str] = set()
        self._peft = None

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(encoded["input_ids"])

    def select(self, adapter: AdapterInfo | None):
        """The module to call ``generate`` on, with ``adapter`` switched on (or all off)."""
        if adapter is None:
            return self._peft.disable_adapter() if self._peft is not None else _nullcontext(), self._base_or_peft()
        if adapter.name not in self._adapters:
            self._attach(adapter)
        self._peft.set_adapter(adapter.name)
        return _nullcontext(), self._peft

    def _base_or_peft(self):
        return self._peft if self._peft is not None else self.model

    @cached_property
    def weights_hash(self) -> str:
        """The loaded weights' identity, read once (a read-only model dir cannot cache it on disk)."""
        return model_hash(self.model_dir)

    def fits(self, adapter: AdapterInfo) -> bool:
        """Whether ``adapter`` was trained on this base model (unknown counts as yes)."""
        expected = adapter.metadata.get("base_model_sha256")
        return not expected or expected == self.weights_hash

    def _attach(self, adapter: AdapterInfo) -> None:
        from peft import PeftModel

        if not self.fits(adapter):
            raise GeneratorError(
                f"adapter {adapter.name!r} was trained on another base model ({adapter.metadata.get('base_model', '?')}); "
                f"pick another adapter or set adapter=none"
            )
        try:
            if self._peft is None:
                self._peft = PeftModel.from_pretrained(self.model, adapter.path, adapter_name=adapter.name)
                self._peft.eval()
            else:
                self._peft.load_adapter(adapter.path, adapter_name=adapter.name)
        except Exception as error:  # noqa: BLE001 - a broken adapter folder must not crash the bot
            raise GeneratorError(f"adapter {adapter.name!r} at {adapter.path} could not be loaded: {error}") from error
        self._adapters.add(adapter.name)


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _deadlines(deadlines: list[float], prompt_width: int, stop_ids: set[int]):
    from transformers import StoppingCriteria

    class _Deadlines(StoppingCriteria):
        """Rows whose request is past its deadline stop decoding. A row that already ended its
        answer is not "hit": sharing a batch with a longer answer must not turn it into a timeout."""

        def __init__(self) -> None:
            self.deadlines = deadlines
            self.hit = [False] * len(deadlines)

        def __call__(self, input_ids, scores, **kwargs):
            import torch

            now = time.monotonic()
            stops = torch.tensor(sorted(stop_ids), device=input_ids.device)
            done = torch.isin(input_ids[:, prompt_width:], stops).any(dim=1).tolist()
            flags = [now >= d and not finished for d, finished in zip(self.deadlines, done)]
            for i, flag in enumerate(flags):
                self.hit[i] = self.hit[i] or flag
            return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)

    return _Deadlines()


class TransformersGenerator:
    """The :class:`~adapters.base.Generator` running a local transformers model."""

    def __init__(self, settings: Settings, registry: AdapterRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or AdapterRegistry(settings.adapters_dir)
        self._loaded: _LoadedModel | None = None
        self._load_lock = threading.Lock()
        self._queue: "queue.Queue[_Request]" = queue.Queue()
        self._worker: threading.Thread | None = None
        self.batches_run: list[int] = []  # sizes of the batches decoded (for tests and metrics)

    # --- loading ------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> _LoadedModel:
        with self._load_lock:
            if self._loaded is None:
                started = time.perf_counter()
                with MODEL_LOAD_LOCK:
                    model_dir = resolve_model_dir(self.settings.generator_model, self.settings.model_cache_dir)
                    self._loaded = _LoadedModel(model_dir, pick_device(self.settings.device))
                log.info("generator %s loaded on %s in %.1fs", self._loaded.name, self._loaded.device, time.perf_counter() - started)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="ragbot-generator", daemon=True)
                self._worker.start()
            return self._loaded

    # --- the protocol ---------------------------------------------------------------------
    def generate(
        self,
        question: str,
        passages: list[Passage],
        *,
        history: list[str] | None = None,
        settings: Settings | None = None,
    ) -> Generation:
        cfg = settings or self.settings
        adapter = self.registry.resolve(cfg.adapter)  # validates the name before any work
        loaded = self.load()
        if adapter is not None and cfg.adapter is None and not self.registry.chosen() and not loaded.fits(adapter):
            # The shipped default adapter only applies to the model it was trained on; with
            # another generator_model nobody asked for it, so the base model answers.
            log.info("built-in adapter %s does not fit %s; using the base model", adapter.name, loaded.name)
            adapter = None
        # at least 64 tokens: the settings model keeps MIN_PROMPT_ROOM_TOKENS free of max_new_tokens
        budget = cfg.max_context_tokens - cfg.max_new_tokens - _TEMPLATE_OVERHEAD_TOKENS
        kept = fit_passages(question, passages, budget, loaded.count_tokens, history)
        ids = loaded.prompt_ids(build_messages(question, kept, history))
        request = _Request(ids, adapter, cfg.max_new_tokens, cfg.temperature, time.monotonic() + cfg.generation_timeout_s,
                           cfg.generation_batch_size, cfg.generation_batch_wait_ms / 1000)
        self._queue.put(request)
        try:
            text, completion_tokens, mean_logprob = request.future.result(timeout=cfg.generation_timeout_s + 30)
        except TimeoutError as error:
            raise GeneratorTimeout(f"generation took longer than {cfg.generation_timeout_s:.0f}s") from error
        return Generation(
            text=text,
            model=loaded.name,
            adapter=adapter.name if adapter else None,
            prompt_tokens=len(ids),
            completion_tokens=completion_tokens,
            mean_logprob=mean_logprob,
        )

    # --- the batching worker --------------------------------------------------------------
    def _work(self) -> None:
        pending: list[_Request] = []
        while True:
            if not pending:
                pending.append(self._queue.get())
            # The first waiting request's settings decide (they may carry runtime overrides).
            size, wait = pending[0].batch_size, pending[0].batch_wait_s
            wait_until = time.monotonic() + wait
            while len(pending) < size * 4:
                timeout = wait_until - time.monotonic()
                try:
                    pending.append(self._queue.get(timeout=max(timeout, 0)) if timeout > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            key = pending[0].key
            batch = [r for r in pending if r.key == key][:size]
            pending = [r for r in pending if r not in batch]
            try:
                self._run_batch(batch)
            except Exception as error:  # noqa: BLE001 - every waiting caller must hear back
                failure = error if isinstance(error, GeneratorError) else GeneratorError(f"generation failed: {error}")
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(failure)

    def _run_batch(self, batch: list[_Request]) -> None:
        import torch
        from transformers import StoppingCriteriaList

        loaded = self._loaded
        assert loaded is not None
        self.batches_run.append(len(batch))
        pad = loaded.tokenizer.pad_token_id
        width = max(len(r.prompt_ids) for r in batch)
        input_ids = torch.tensor([[pad] * (width - len(r.prompt_ids)) + r.prompt_ids for r in batch], device=loaded.device)
        attention = torch.tensor([[0] * (width - len(r.prompt_ids)) + [1] * len(r.prompt_ids) for r in batch], device=loaded.device)
        eos = set(_as_list(loaded.model.generation_config.eos_token_id)) | {loaded.tokenizer.eos_token_id}
        deadlines = _deadlines([r.deadline for r in batch], width, eos - {None})
        first = batch[0]
        sampling: dict[str, Any] = {"do_sample": False}
        if first.temperature > 0:
            sampling = {"do_sample": True, "temperature": first.temperature}
        context, module = loaded.select(first.adapter)
        with context, torch.inference_mode():
            output = module.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=first.max_new_tokens,
                pad_token_id=pad,
                stopping_criteria=StoppingCriteriaList([deadlines]),
                output_scores=True,
                return_dict_in_generate=True,
                **sampling,
            )
            # log-probability of every chosen token under the (processed) distribution of its step
            steps = torch.stack(output.scores, dim=1).float().log_softmax(dim=-1)  # [batch, new tokens, vocab]
            chosen = output.sequences[:, width:width + steps.shape[1]]
            token_logprobs = steps.gather(-1, chosen.unsqueeze(-1)).squeeze(-1).cpu()
        for row, request in enumerate(batch):
            if deadlines.hit[row]:
                request.future.set_exception(GeneratorTimeout("generation hit its time limit (generation_timeout_s)"))
                continue
            new = output.sequences[row, width:].tolist()
            tokens = []
            for token in new:
                if token in eos or token == pad:
                    break
                tokens.append(token)
            text = loaded.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            logprobs = token_logprobs[row, : len(tokens)]
            mean_logprob = round(float(logprobs.mean()), 4) if len(tokens) and torch.isfinite(logprobs).all() else None
            request.future.set_result((text, len(tokens), mean_logprob))


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
