"""One typed settings model for every threshold, path and switch in ragbot.

Sources, later ones winning: defaults < TOML file (``RAGBOT_CONFIG`` or ``./ragbot.toml``)
< ``RAGBOT_*`` environment variables < runtime overrides (e.g. ``/ragbot set`` in Slack,
applied with :meth:`Settings.with_overrides`). Ranges are validated here, in one place,
and a bad value is reported with the setting's name.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import urllib.parse
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

OnFail = Literal["fix", "refrain", "escalate", "block"]
# Checks with nothing to repair and nothing to fall back on: "fix" and "refrain" would tell the
# asker "I couldn't find this" and open an escalation for every over-long or disguised message.
Refusal = Literal["block", "escalate"]

FALLBACK_TEXT = (
    "I couldn't find this in the knowledge base, so I won't guess. "
    "You can ask a human with the button below."
)
# When passages were found but the drafted answer did not hold up against them: "I couldn't
# find this" read as false at relevance 0.99.
UNSUPPORTED_TEXT = (
    "I found related passages, but not an answer they clearly support, so I won't guess. "
    "You can ask a human with the button below."
)


MIN_PROMPT_ROOM_TOKENS = 80  # template (16) + at least 64 for question and passages: adapters/local.py relies on it


class SettingsError(ValueError):
    """A setting has a bad value; the message names the setting and what is allowed."""


def config_file() -> Path | None:
    """The TOML settings file in use: ``RAGBOT_CONFIG``, else ``./ragbot.toml`` when present."""
    explicit = os.environ.get("RAGBOT_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise SettingsError(f"RAGBOT_CONFIG points at {path}, which is not a file")
        return path
    default = Path("ragbot.toml")
    return default if default.is_file() else None


def _check_environment(settings_cls: type[BaseSettings]) -> None:
    """A mistyped ``RAGBOT_*`` variable is an error, as a mistyped key in the file is: silently
    ignoring ``RAGBOT_MIN_RELEVANSE`` would run the bot with a threshold nobody chose."""
    known = {f"RAGBOT_{name.upper()}" for name in settings_cls.model_fields} | {"RAGBOT_CONFIG"}
    unknown = sorted(name for name in os.environ if name.upper().startswith("RAGBOT_") and name.upper() not in known)
    if unknown:
        close = difflib.get_close_matches(unknown[0].upper(), sorted(known), n=1)
        hint = f"; did you mean {close[0]}?" if close else "; `ragbot settings` lists them"
        raise SettingsError(f"unknown setting in the environment: {unknown[0]}{hint}")


class Settings(BaseSettings):
    """Everything ragbot can be tuned with. Field names are the ``/ragbot set`` keys."""

    model_config = SettingsConfigDict(
        env_prefix="RAGBOT_",
        extra="forbid",
        validate_assignment=True,
        validate_default=True,
    )

    # --- locations -------------------------------------------------------------------
    data_dir: Path = Field(Path(".ragbot"), description="Where the store, model cache and database live.")
    embedding_model: Path | None = Field(None, description="Sentence-transformers model dir; default: the packaged MiniLM.")
    generator_model: Path | None = Field(None, description="Hugging Face causal-LM dir; default: SmolLM2-135M-Instruct (converted once).")
    database_url: str | None = Field(None, description="SQLAlchemy URL for bot state; default: SQLite file in data_dir.")

    # --- store -----------------------------------------------------------------------
    store: Literal["lancedb", "weaviate"] = Field("lancedb", description="Knowledge-base backend: the embedded LanceDB store under data_dir, or a Weaviate server.")
    weaviate_url: str | None = Field(None, description="Weaviate HTTP endpoint (store = weaviate), e.g. http://weaviate:8080.")
    weaviate_grpc_port: int = Field(50051, ge=1, le=65535, description="Weaviate gRPC port (the v4 client searches over gRPC).")
    weaviate_grpc_host: str | None = Field(None, description="Weaviate gRPC host, when not weaviate_url's host (a separate ingress); Weaviate Cloud's grpc-<cluster> host and port 443 are found without it.")
    weaviate_api_key: SecretStr | None = Field(None, description="Weaviate API key, when the server requires one.")
    weaviate_collection: str = Field("RagbotChunk", min_length=1, description="Weaviate collection holding the chunks (one tenant per workspace inside it).")
    tenant: str = Field("default", min_length=1, description="Knowledge-base tenant (one per Slack workspace).")

    # --- ingestion -------------------------------------------------------------------
    chunk_tokens: int = Field(48, ge=16, le=2048, description="Child-chunk length in embedding-model tokens (small children search best; the parent section is what the generator sees).")
    chunk_overlap_tokens: int = Field(12, ge=0, le=512, description="Tokens shared by neighbouring child chunks (below chunk_tokens).")
    parent_max_chars: int = Field(2400, ge=200, le=20000, description="Longest parent section handed to the generator.")

    # --- retrieval -------------------------------------------------------------------
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="Hybrid weight: 0 = BM25 only, 1 = vector only.")
    candidates: int = Field(30, ge=1, le=500, description="Hits fetched per search before reranking.")
    top_k: int = Field(
        1, ge=1, le=20,
        description="Passages (parent sections) given to the generator. The default 135M model reads one best "
        "(docs/benchmarks.md: 0.40 vs 0.32 answerable correct at 4); raise it for larger models.",
    )
    reranker_model: Path | None = Field(None, description="Cross-encoder dir; reranking is off when unset.")
    likelihood_rerank_depth: int = Field(
        0, ge=0, le=20,
        description="Best documents re-scored by how likely the generator's base model finds the question given each "
        "(0 = off). 3 raises recall@1 on held-out SQuAD articles from 0.77 to 0.85 at ~1 s per question on a 2-core CPU "
        "(docs/benchmarks.md).",
    )
    likelihood_rerank_weight: float = Field(0.7, ge=0.0, le=10.0, description="Weight of that likelihood (mean log-prob per question token) against the fused score.")
    max_vector_distance: float | None = Field(None, ge=0.0, le=2.0, description="Vector hits farther than this cosine distance are dropped (both stores; Weaviate also drops keyword hits that far); unset: no limit.")
    min_relevance: float = Field(0.5, ge=0.0, le=1.0, description="Gate: below this relevance ragbot falls back instead of generating.")

    # --- generation ------------------------------------------------------------------
    generator_backend: Literal["transformers", "openai"] = Field("transformers", description="transformers: a local model (+ LoRA adapter); openai: an OpenAI-compatible server such as vLLM.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the local generator runs; auto picks CUDA when present.")
    torch_threads: int | None = Field(None, ge=1, le=256, description="CPU threads per process for torch (embedding, generation); unset: torch's default. 1 is often fastest on a busy shared box.")
    adapter: str | None = Field(None, description="Name of the LoRA adapter to apply (see `ragbot adapters list`).")
    openai_base_url: str | None = Field(None, description="OpenAI-compatible server URL (generator_backend = openai), e.g. http://vllm:8000/v1.")
    openai_model: str | None = Field(None, description="Model name sent to that server; the adapter setting's name is sent instead when set (vLLM serves LoRA adapters by name); neither: 'default'.")
    openai_api_key: SecretStr | None = Field(None, description="Bearer key for that server.")
    max_new_tokens: int = Field(96, ge=1, le=4096, description="Longest answer the generator may write, in tokens.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature; 0 = greedy (repeatable answers).")
    min_answer_logprob: float | None = Field(None, ge=-20.0, le=0.0, description="Withhold and escalate a drafted answer whose mean token log-probability is below this (the model unsure of its own words; the local backend, or an OpenAI-compatible server that returns logprobs); unset: off. -0.3 suits the squad-k1-r16 adapter, see docs/benchmarks.md.")
    generation_timeout_s: float = Field(60.0, gt=0, le=600, description="Longest wait for one answer from the generator before the question escalates.")
    max_context_tokens: int = Field(2048, ge=256, le=131072, description="Prompt budget; passages are trimmed to fit.")
    generation_batch_size: int = Field(4, ge=1, le=256, description="Concurrent requests decoded together by the local backend.")
    generation_batch_wait_ms: int = Field(10, ge=0, le=1000, description="How long the local backend waits to fill a batch.")

    # --- guardrails ------------------------------------------------------------------
    max_question_chars: int = Field(2000, ge=10, le=40000, description="Longer questions are refused with a request to shorten them.")
    min_question_chars: int = Field(2, ge=1, le=100, description="Shorter questions are refused as empty.")
    question_shape_action: Refusal = Field("block", description="Empty, too short, too long or binary-looking questions, greetings.")
    normalize_action: OnFail = Field("fix", description="Questions with hidden/control characters or odd whitespace.")
    injection_threshold: float = Field(0.5, ge=0.0, le=1.0, description="Injection detector score above which a question is refused (injection_action).")
    injection_detector: Path | None = Field(None, description="Injection detector .npz from `ragbot train-guard`; default: the one ragbot ships.")
    injection_action: Refusal = Field("block", description="escalate also hands the message to a human (e.g. security).")
    indirect_injection_action: OnFail = Field("fix", description="Retrieved passages that address the model: fix drops them before generation.")
    indirect_injection_threshold: float = Field(0.8, ge=0.0, le=1.0, description="Detector score above which a retrieved sentence counts as an instruction to the model.")
    input_pii_action: OnFail = Field("fix", description="Personal data in a question: fix redacts it from logs and storage (search keeps all but high-risk types).")
    output_pii_action: OnFail = Field("fix", description="Personal data in an answer that the sources do not show: fix redacts it.")
    pii_allow_from_sources: bool = Field(True, description="Keep low-risk PII that appears verbatim in the sources.")
    format_action: OnFail = Field("fix", description="Answers that break Slack mrkdwn, limits or citations: fix repairs them.")
    groundedness_threshold: float = Field(0.5, ge=0.0, le=1.0, description="Support (0-1) an answer sentence needs from the passages; below it the sentence is unsupported (groundedness_action).")
    groundedness_action: OnFail = Field("fix", description="fix drops unsupported sentences (refrains when none are supported).")
    answer_type_action: OnFail = Field("refrain", description="A how-long/how-many/when question whose answer states no amount or time (nothing to fix: fix refrains).")
    rate_user_per_minute: int = Field(10, ge=1, le=10000, description="Questions one person may ask per minute (ragbot serve counts across every instance on its database).")
    rate_channel_per_minute: int = Field(60, ge=1, le=100000, description="Questions one channel may ask per minute (ragbot serve counts across every instance on its database).")
    rate_limit_action: Literal["block"] = Field("block", description="Over-rate messages are refused with the wait (escalating them would turn a flood into human work).")
    max_answer_chars: int = Field(3900, ge=100, le=40000, description="Longer answers are cut at a sentence and marked as cut.")
    source_links: dict[str, str] = Field(
        default_factory=dict,
        description="Where readers open ingested files: folder -> URL prefix (e.g. {\"/srv/handbook\": \"https://git.example.com/handbook/blob/main\"}); "
        "a source under the folder links to the URL plus its path below it. Unset: sources show the file's folder and name (escalations: the full path).",
    )

    # --- escalation and Slack -------------------------------------------------------
    escalation_threshold: float = Field(0.35, ge=0.0, le=1.0, description="Answers with a confidence below this also go to the escalation channel.")
    escalation_channel: str | None = Field(None, description="Channel id (C.../G..., from the channel's details) where low-confidence questions go to humans; unset: none are escalated.")
    admin_users: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Slack user ids allowed to change settings.")
    workspace_admins_are_admins: bool = Field(False, description="Let Slack workspace admins and owners change settings too (besides admin_users).")
    mention_only: bool = Field(True, description="In channels, answer only when mentioned (threads already answered excepted).")
    shared_channels: Literal["off", "members", "everyone"] = Field(
        "off",
        description="Channels shared with other organizations (Slack Connect), where everyone there reads the answers: off = answer "
        "nobody and say why; members = answer members of this organization (member_teams); everyone = answer anyone.",
    )
    member_teams: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Slack team or Enterprise Grid org ids (T..., E...) whose people count as members, besides the installation's own "
        "(e.g. the other workspaces of a Grid org).",
    )
    dm_follow_up_minutes: int = Field(30, ge=0, le=24 * 60, description="In a DM, a new message that reads as a follow-up (\"and on my phone?\", \"why?\") is asked with the questions of the last this many minutes; 0: never.")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (tests point it at a local fake).")
    hold_escalated_answers: bool = Field(False, description="When a question escalates, keep the bot's draft for the human instead of sending it to the asker.")
    outbox_retry_interval_s: float = Field(5.0, gt=0, le=3600, description="How often undelivered Slack messages (answers, escalations) are retried.")

    # --- running it -----------------------------------------------------------------
    cache_ttl_s: int = Field(3600, ge=0, le=30 * 24 * 3600, description="Answer cache lifetime; 0 disables the cache.")
    retention_days: int = Field(365, ge=0, le=36500, description="Question records, feedback and answered escalations older than this are deleted (hourly, by `serve`); 0 keeps them.")
    max_concurrency: int = Field(2, ge=1, le=256, description="Questions answered at once by one bot process.")
    queue_size: int = Field(64, ge=1, le=100000, description="Questions waiting beyond those; more are told to ask again in a minute.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log verbosity; DEBUG adds tracebacks.")
    log_salt: SecretStr | None = Field(None, description="Salt for hashing user/channel ids (logs, stored records, thread keys); default: a random one stored in the bot's database, shared by the instances on it.")
    metrics_host: str = Field("127.0.0.1", min_length=1, description="Bind address of the /metrics, /health, /ready server in Socket Mode.")
    metrics_port: int = Field(9464, ge=0, le=65535, description="Port of that server; 0 turns it off.")
    store_timeout_s: float = Field(10.0, gt=0, le=600, description="Longest wait for one knowledge-base search.")
    store_retries: int = Field(2, ge=0, le=10, description="Retries (with backoff) of a failed knowledge-base search.")
    store_cooldown_s: float = Field(15.0, ge=0, le=600, description="After a search failed all its retries, searches fail at once this long (the asker is told at once), then one tries the store again; 0: every search tries.")
    generator_process: bool = Field(True, description="In `ragbot serve`, run the generator in a child process that is restarted if it crashes.")
    shutdown_grace_s: float = Field(30.0, ge=0, le=3600, description="On shutdown, how long in-flight questions may finish before the rest are kept for retry.")

    @model_validator(mode="after")
    def _consistent_pairs(self) -> "Settings":
        """Each value may be in range and a pair still make every question (or every ingest) fail."""
        if self.max_context_tokens - self.max_new_tokens < MIN_PROMPT_ROOM_TOKENS:
            raise ValueError(
                f"max_new_tokens {self.max_new_tokens} leaves under {MIN_PROMPT_ROOM_TOKENS} of max_context_tokens "
                f"{self.max_context_tokens} for the question and passages"
            )
        if self.min_question_chars >= self.max_question_chars:
            raise ValueError(f"min_question_chars {self.min_question_chars} must be below max_question_chars {self.max_question_chars}")
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError(f"chunk_overlap_tokens {self.chunk_overlap_tokens} must be below chunk_tokens {self.chunk_tokens}")
        if self.top_k > self.candidates:
            raise ValueError(f"top_k {self.top_k} is more than the {self.candidates} candidates searched")
        if self.generator_backend == "openai" and not self.openai_base_url:
            raise ValueError("generator_backend is 'openai' but openai_base_url is not set (e.g. http://vllm:8000/v1)")
        return self

    @field_validator("openai_base_url")
    @classmethod
    def _server_url(cls, value: str | None) -> str | None:
        """Checked at start-up: a typo here made every question fail, and a password in it was
        printed with every error (urllib cannot use one anyway; the key goes in openai_api_key)."""
        if value is None:
            return value
        if not _is_web_url(value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        if "@" in urllib.parse.urlsplit(value).netloc:
            raise ValueError("must not carry a user or password; put the key in openai_api_key")
        return value

    @field_validator("escalation_channel")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        """Slack's API takes a channel id; a name ("#it-help") or a user id failed at the first escalation."""
        if value is not None and not re.fullmatch(r"[CG][A-Z0-9]{2,20}", value):
            raise ValueError(f"{value!r} is not a channel id (C... or G...; in Slack, `/ragbot set escalation_channel #channel` fills it in)")
        return value

    @field_validator("member_teams")
    @classmethod
    def _team_ids(cls, value: list[str]) -> list[str]:
        """A team name or a user id here would silently let nobody (or the wrong people) in."""
        bad = [item for item in value if not re.fullmatch(r"[TE][A-Z0-9]{2,20}", item)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a Slack team or org id (T... or E...; Slack shows it in the workspace's or org's settings)")
        return value

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir_given(cls, value: Any) -> Any:
        """``RAGBOT_DATA_DIR=`` (set, but to nothing) meant the working directory: the store and
        the database landed wherever the command ran."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; give a folder, or unset it for the default .ragbot")
        return value

    @field_validator("source_links")
    @classmethod
    def _link_prefixes(cls, value: dict[str, str]) -> dict[str, str]:
        checked = {}
        for folder, url in value.items():
            if not _is_web_url(url):
                raise ValueError(f"{url!r} (for {folder}) is not an http(s) URL")
            if not folder.strip():
                raise ValueError(f"an empty folder name for {url!r}")
            checked[str(Path(folder).expanduser()).rstrip("/") or "/"] = url.rstrip("/")
        return checked

    def source_link(self, location: str) -> str:
        """The URL a reader can open for a stored location (longest matching folder), or ""."""
        for folder in sorted(self.source_links, key=len, reverse=True):
            if location == folder or location.startswith(folder.rstrip("/") + "/"):
                below = location[len(folder):].lstrip("/")
                return self.source_links[folder] + ("/" + urllib.parse.quote(below, safe="/#") if below else "")
        return ""

    @field_validator("embedding_model", "generator_model", "reranker_model")
    @classmethod
    def _model_directory(cls, value: Path | None) -> Path | None:
        """A model path is checked at start-up, not at the first question (which could only escalate)."""
        if value is None:
            return None
        path = value.expanduser()
        if not path.is_dir():
            raise ValueError(f"no such model directory: {path}")
        if not (path / "config.json").is_file():
            raise ValueError(f"{path} is not a Hugging Face model directory (no config.json)")
        return path

    @field_validator("injection_detector")
    @classmethod
    def _detector_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"no such detector file: {value} (train one with `ragbot train-guard`)")
        return value.expanduser() if value is not None else None

    @field_validator("admin_users", "member_teams", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        """``U1,U2`` or a JSON list ``["U1", "U2"]`` (what most deployment tools write)."""
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"not a JSON list of ids ({error.msg})") from None
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        _check_environment(settings_cls)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            try:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as error:
                raise SettingsError(f"settings file {path}: {error}") from None
        return tuple(sources)

    # --- derived paths ----------------------------------------------------------------
    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def knowledge_base_label(self) -> str:
        """Where this tenant's knowledge base lives, for messages ("in {label}")."""
        if self.store == "weaviate":
            return f"Weaviate at {self.weaviate_url or '(weaviate_url not set)'} (collection {self.weaviate_collection!r}, tenant {self.tenant!r})"
        return f"{self.store_dir} (tenant {self.tenant!r})"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def adapters_dir(self) -> Path:
        return self.data_dir / "adapters"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'ragbot.db').resolve()}"

    # --- overrides --------------------------------------------------------------------
    def with_overrides(self, overrides: dict[str, Any]) -> "Settings":
        """A copy with ``overrides`` applied and validated (values may be strings from Slack)."""
        if not overrides:
            return self
        unknown = sorted(set(overrides) - set(type(self).model_fields))
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r}{_did_you_mean(unknown[0], '`/ragbot config` in Slack')}")
        merged = {**self.model_dump(), **overrides}
        try:  # model_validate skips BaseSettings.__init__, so the environment and file are not re-read
            return Settings.model_validate(merged)
        except ValidationError as error:
            raise SettingsError(_describe(error)) from None


def _is_web_url(value: str) -> bool:
    parts = urllib.parse.urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def shown_url(url: str) -> str:
    """A database URL as it may be printed or logged: any password replaced by ***."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy understands: show nothing of it
        return "(unparsable URL)"


SECRET_WORDS = frozenset({"key", "salt", "secret", "token", "password"})


def is_secret_name(name: str) -> bool:
    """A setting whose value is never shown: a whole word of its name says so (openai_api_key,
    log_salt), so max_new_tokens is not one."""
    return bool(SECRET_WORDS & set(re.split(r"[._]", name)))


def closest_setting(name: str) -> str | None:
    """The setting a mistyped key most likely meant (min_relevence: min_relevance), if any."""
    close = difflib.get_close_matches(name.lower(), sorted(Settings.model_fields), n=1)
    return close[0] if close else None


def _did_you_mean(name: str, lister: str = "`ragbot settings`") -> str:
    close = closest_setting(name)
    return f"; did you mean {close!r}?" if close else f"; {lister} lists them"


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        name = ".".join(str(p) for p in item.get("loc", ())) or "settings"
        value = item.get("input")
        if is_secret_name(name):  # whatever its type: a key typed as a list or a number is still the key
            value = "(hidden)"
        elif isinstance(value, str):
            value = re.sub(r"(://)[^/@\s]*@", r"\1***@", value)  # a password in a URL
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        if item.get("type") == "extra_forbidden":  # a mistyped key in the file (or a keyword)
            parts.append(f"unknown setting {name!r}{_did_you_mean(name)}")
            continue
        parts.append(f"setting {name!r}: {message}{shown}" if item.get("loc") else message)  # cross-field checks have no loc
    return "; ".join(parts)


def load_settings(**values: Any) -> Settings:
    """Build settings from file and environment (plus ``values``); raise :class:`SettingsError` on bad input."""
    from pydantic_settings.exceptions import SettingsError as SourceError

    try:
        return Settings(**values)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except SourceError as error:  # a list or mapping setting whose environment value is not JSON
        found = re.search(r'field "(\w+)"', str(error))
        name = found.group(1) if found else "?"
        raise SettingsError(f"setting {name!r}: RAGBOT_{name.upper()} is not valid JSON (it takes a JSON object or list)") from None
