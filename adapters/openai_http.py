"""OpenAI-compatible HTTP backend (vLLM, TGI, llama.cpp server, ...) for teams that outgrow one machine.

It sends the same chat prompt as the local backend to ``{openai_base_url}/chat/completions``.
Any transport or protocol failure becomes :class:`GeneratorError` with a one-line reason,
which the generate stage turns into the pipeline's polite fallback. When an adapter is
selected, its name is sent as the model (vLLM serves LoRA adapters as extra model names
with ``--lora-modules NAME=PATH``).
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

from adapters.base import Generation, GeneratorError, GeneratorTimeout, Passage
from adapters.prompt import build_messages
from adapters.registry import BASE_MODEL, check_name
from bot.settings import Settings

_CHARS_PER_TOKEN = 4  # the server tokenizes; we only need a rough prompt budget


class OpenAIGenerator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def generate(
        self,
        question: str,
        passages: list[Passage],
        *,
        history: list[str] | None = None,
        settings: Settings | None = None,
    ) -> Generation:
        cfg = settings or self.settings
        if not cfg.openai_base_url:
            raise GeneratorError("generator_backend is 'openai' but openai_base_url is not set")
        adapter = cfg.adapter if cfg.adapter not in (None, BASE_MODEL) else None
        if adapter:
            check_name(adapter)
        model = adapter or cfg.openai_model or "default"
        messages = build_messages(question, _trim(passages, cfg), history)
        body = {"model": model, "messages": messages, "max_tokens": cfg.max_new_tokens, "temperature": cfg.temperature}
        if cfg.min_answer_logprob is not None:
            body["logprobs"] = True  # only when used: not every OpenAI-compatible server knows it
        reply = self._post(cfg, "/chat/completions", body)
        try:
            text = reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as error:
            raise GeneratorError(f"generator server at {cfg.openai_base_url} sent an unexpected reply (no choices[0].message.content)") from error
        usage = reply.get("usage") or {}
        return Generation(
            text=text.strip(),
            model=str(reply.get("model") or model),
            adapter=adapter,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            mean_logprob=_mean_logprob(reply),
        )

    def _post(self, cfg: Settings, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = cfg.openai_base_url.rstrip("/") + path
        headers = {"Content-Type": "application/json"}
        if cfg.openai_api_key is not None:
            headers["Authorization"] = f"Bearer {cfg.openai_api_key.get_secret_value()}"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=cfg.generation_timeout_s) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:200].decode("utf-8", "replace").strip()
            raise GeneratorError(f"generator server at {cfg.openai_base_url} answered HTTP {error.code}: {detail}") from error
        except (TimeoutError, socket.timeout) as error:
            raise GeneratorTimeout(f"generator server at {cfg.openai_base_url} did not answer within {cfg.generation_timeout_s:.0f}s") from error
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise GeneratorError(f"generator server at {cfg.openai_base_url} is unreachable: {reason}") from error
        try:
            return json.loads(payload)
        except json.JSONDecodeError as error:
            raise GeneratorError(f"generator server at {cfg.openai_base_url} sent invalid JSON") from error


def _trim(passages: list[Passage], cfg: Settings) -> list[Passage]:
    budget = (cfg.max_context_tokens - cfg.max_new_tokens) * _CHARS_PER_TOKEN
    kept, used = [], 0
    for passage in passages:
        room = budget - used
        if room <= 100:
            break
        text = passage.text if len(passage.text) <= room else passage.text[:room] + " ..."
        kept.append(Passage(passage.n, passage.title, text))
        used += len(text) + len(passage.title) + 8
    return kept


def _mean_logprob(reply: dict[str, Any]) -> float | None:
    """Mean of ``choices[0].logprobs.content[*].logprob`` (OpenAI / vLLM format), if the server sent it."""
    try:
        values = [float(item["logprob"]) for item in reply["choices"][0]["logprobs"]["content"]]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return round(sum(values) / len(values), 4) if values else None
