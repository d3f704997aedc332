"""OpenAI-compatible HTTP backend (vLLM, TGI, llama.cpp server, ...) for teams that outgrow one machine.

It sends the same chat prompt as the local backend to ``{openai_base_url}/chat/completions``.
Any transport or protocol failure becomes :class:`GeneratorError` with a one-line reason,
which the generate stage turns into the pipeline's polite fallback. When an adapter is
selected, its name is sent as the model (vLLM serves LoRA adapters as extra model names
with ``--lora-modules NAME=PATH``).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from adapters.base import Generation, GeneratorError, GeneratorTimeout, Passage
from adapters.prompt import build_messages
from adapters.registry import BASE_MODEL, check_name
from bot.settings import Settings

_CHARS_PER_TOKEN = 4  # the server tokenizes; we only need a rough prompt budget
MAX_CHARS_PER_TOKEN = 16  # a draft longer than max_new_tokens of these is cut (the server ignored max_tokens)
MAX_REPLY_BYTES = 4_000_000
MAX_RETRY_WAIT_S = 5.0  # a busy server's Retry-After is waited out once when it is this short


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
            raise GeneratorError("generator server not configured: generator_backend is 'openai' but openai_base_url is not set")
        adapter = cfg.adapter if cfg.adapter not in (None, BASE_MODEL) else None
        if adapter:
            check_name(adapter)
        model = adapter or cfg.openai_model or "default"
        messages = build_messages(question, _trim(passages, cfg), history)
        body = {"model": model, "messages": messages, "max_tokens": cfg.max_new_tokens, "temperature": cfg.temperature}
        if cfg.min_answer_logprob is not None:
            body["logprobs"] = True  # only when used: not every OpenAI-compatible server knows it
        reply = self._post_retrying(cfg, "/chat/completions", body)
        where = _shown(cfg.openai_base_url)
        try:
            text = _content(reply["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise GeneratorError(f"generator server sent an unexpected reply (no text in choices[0].message.content; {where})") from error
        usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
        return Generation(
            text=text.strip()[: cfg.max_new_tokens * MAX_CHARS_PER_TOKEN],  # a server that ignores max_tokens
            model=str(reply.get("model") or model),
            adapter=adapter,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            mean_logprob=_mean_logprob(reply),
        )

    def _post_retrying(self, cfg: Settings, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One retry when a busy server (429, 503) asks for a short wait that fits the deadline."""
        started = time.monotonic()
        try:
            return self._post(cfg, path, body)
        except _Busy as busy:
            left = cfg.generation_timeout_s - (time.monotonic() - started)
            if busy.wait is None or busy.wait > min(MAX_RETRY_WAIT_S, left - 1):
                raise
            time.sleep(busy.wait)
            return self._post(cfg.model_copy(update={"generation_timeout_s": left - busy.wait}), path, body)

    def _post(self, cfg: Settings, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST and read the JSON reply within ``generation_timeout_s`` in all (a server that
        trickles its body is cut off), at most MAX_REPLY_BYTES, redirects not followed (they
        would carry the API key to another host). Every failure is a one-line GeneratorError
        whose text starts with its kind, then where."""
        where = _shown(cfg.openai_base_url)
        url = cfg.openai_base_url.rstrip("/") + path
        headers = {"Content-Type": "application/json"}
        if cfg.openai_api_key is not None:
            headers["Authorization"] = f"Bearer {cfg.openai_api_key.get_secret_value()}"
        timeout = cfg.generation_timeout_s
        deadline = time.monotonic() + timeout
        try:
            request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
            with _OPENER.open(request, timeout=timeout) as response:
                payload = _read_until(response, deadline, where)
        except urllib.error.HTTPError as error:
            message = f"generator server answered HTTP {error.code} ({where}){_detail(error)}"
            if error.code in (429, 503):
                raise _Busy(message, _retry_after(error)) from error
            raise GeneratorError(message) from error
        except (TimeoutError, socket.timeout) as error:
            raise GeneratorTimeout(f"generator server did not answer within {timeout:.0f}s ({where})") from error
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise GeneratorError(f"generator server unreachable ({where}): {_one_line(str(reason))}") from error
        except (http.client.HTTPException, ValueError) as error:  # a connection cut mid-reply, a URL urllib cannot use
            raise GeneratorError(f"generator server reply broken ({where}): {type(error).__name__}") from error
        try:
            return json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise GeneratorError(f"generator server sent invalid JSON ({where})") from error


class _Busy(GeneratorError):
    """The server is overloaded or rate-limited; ``wait`` is its Retry-After in seconds, if any."""

    def __init__(self, message: str, wait: float | None) -> None:
        super().__init__(message)
        self.wait = wait


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    try:
        return max(0.0, float(error.headers.get("Retry-After", "")))
    except (TypeError, ValueError):
        return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} not followed; set openai_base_url to it", headers, fp)


_OPENER = urllib.request.build_opener(_NoRedirects)


def _read_until(response: Any, deadline: float, where: str) -> bytes:
    """The body, refused past MAX_REPLY_BYTES; past the deadline a TimeoutError, which the
    caller reports like a server that never answered."""
    chunks, size = [], 0
    while True:
        chunk = response.read1(65536)
        if not chunk:
            if getattr(response, "length", None):  # Content-Length promised more: the server hung up
                raise http.client.IncompleteRead(b"".join(chunks), response.length)
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise GeneratorError(f"generator server sent more than {MAX_REPLY_BYTES // 1_000_000} MB ({where})")
        if time.monotonic() > deadline:
            raise TimeoutError
        chunks.append(chunk)


def _detail(error: urllib.error.HTTPError) -> str:
    if 300 <= error.code < 400:
        return f": {error.msg}"
    try:
        text = error.read(2000).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the status says enough
        return ""
    return f": {_one_line(text)}" if text.strip() and not text.lstrip().startswith("<") else ""  # HTML error pages say nothing


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def _shown(url: str | None) -> str:
    """The server's address for messages, without a query (which may carry a key); the settings
    model already refuses a user or password in it."""
    parts = urllib.parse.urlsplit(url or "")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _content(value: Any) -> str:
    """Message content: a string, null (nothing to say), or OpenAI's list of text parts."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, dict) for part in value):
        return "".join(str(part.get("text") or "") for part in value if part.get("type", "text") == "text")
    raise ValueError(f"content is {type(value).__name__}")


def _count(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


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
