"""The chat-format training record, and validation that names the bad line.

One JSON object per line::

    {"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", ...}],
     "meta": {"doc_ids": ["<gold or source document>", ...], "kind": "answerable", "source": "squad"}}

``meta.doc_ids`` lists every document whose text appears in the prompt; the train/validation
split uses it so that no passage is in both. Validation checks the schema and roles, the
length against the model's context, and removes exact and near duplicates.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

ROLES = ("system", "user", "assistant")
_WORD = re.compile(r"[a-z0-9]+")
NEAR_DUPLICATE_JACCARD = 0.9


class DataError(ValueError):
    """Training data that cannot be used; the message names the file and line."""


@dataclass
class Record:
    messages: list[dict[str, str]]
    meta: dict[str, Any] = field(default_factory=dict)
    line: int = 0

    @property
    def doc_ids(self) -> list[str]:
        ids = self.meta.get("doc_ids") or []
        return [str(i) for i in ids] or [hashlib.sha1(self.messages[1]["content"].encode()).hexdigest()[:12]]

    @property
    def question(self) -> str:
        user = self.messages[-2]["content"]
        return user.rsplit("Question:", 1)[-1].strip()

    @property
    def answer(self) -> str:
        return self.messages[-1]["content"]

    def to_json(self) -> str:
        return json.dumps({"messages": self.messages, "meta": self.meta}, ensure_ascii=False)


@dataclass
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def parse_line(text: str, line: int) -> Record:
    """One record, or :class:`DataError` saying what is wrong with that line."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"line {line}: not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(value, dict) or not isinstance(value.get("messages"), list):
        raise DataError(f"line {line}: expected an object with a 'messages' list")
    messages = value["messages"]
    roles = tuple(m.get("role") if isinstance(m, dict) else None for m in messages)
    if roles != ROLES:
        raise DataError(f"line {line}: roles must be {list(ROLES)} in that order, got {list(roles)}")
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise DataError(f"line {line}: the {message['role']} message has no text content")
        extra = set(message) - {"role", "content"}
        if extra:
            raise DataError(f"line {line}: unexpected keys in the {message['role']} message: {sorted(extra)}")
    meta = value.get("meta") or {}
    if not isinstance(meta, dict):
        raise DataError(f"line {line}: 'meta' must be an object")
    if "doc_ids" in meta and not (isinstance(meta["doc_ids"], list) and all(isinstance(i, str) for i in meta["doc_ids"])):
        raise DataError(f"line {line}: meta.doc_ids must be a list of strings")
    return Record([{"role": m["role"], "content": m["content"]} for m in messages], meta, line)


def read_records(path: Path) -> tuple[list[Record], list[Problem]]:
    """All good records of a JSONL file, and a problem per bad line (blank lines are skipped)."""
    records, problems = [], []
    try:
        lines = Path(path).read_bytes().decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise DataError(f"{Path(path).name}: not valid UTF-8 ({error.reason} at byte {error.start})") from None
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            records.append(parse_line(text, number))
        except DataError as error:
            problems.append(Problem(number, str(error).split(": ", 1)[1]))
    return records, problems


def write_records(path: Path, records: Iterable[Record]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(record.to_json() + "\n")
            count += 1
    return count


def check_lengths(records: list[Record], count_tokens: Callable[[list[dict[str, str]]], int], max_tokens: int) -> list[Problem]:
    """Records whose whole conversation is longer than the model's context."""
    problems = []
    for record in records:
        size = count_tokens(record.messages)
        if size > max_tokens:
            problems.append(Problem(record.line, f"{size} tokens, over the {max_tokens}-token context (shorten the passages)"))
    return problems


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def deduplicate(records: list[Record]) -> tuple[list[Record], int, int]:
    """Records without exact duplicates (same conversation) or near duplicates (same gold
    document and answer, questions with word-set Jaccard >= 0.9). Returns (kept, exact, near)."""
    kept: list[Record] = []
    seen: set[str] = set()
    by_key: dict[tuple[str, str], list[set[str]]] = {}
    exact = near = 0
    for record in records:
        fingerprint = hashlib.sha256(json.dumps(record.messages, sort_keys=True).encode()).hexdigest()
        if fingerprint in seen:
            exact += 1
            continue
        seen.add(fingerprint)
        key = (record.doc_ids[0], " ".join(_words(record.answer)))
        question = set(_words(record.question))
        if any(_jaccard(question, other) >= NEAR_DUPLICATE_JACCARD for other in by_key.get(key, [])):
            near += 1
            continue
        by_key.setdefault(key, []).append(question)
        kept.append(record)
    return kept, exact, near


def _jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / max(len(a | b), 1)


def document_side(doc_id: str, validation_share: float, seed: int = 0) -> str:
    """'train' or 'val' for a document, by a seeded hash of its id (stable across runs)."""
    digest = hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < validation_share else "train"


def split_by_document(records: list[Record], validation_share: float, seed: int = 0) -> tuple[list[Record], list[Record], int]:
    """Train and validation records with no document in both; a record that mixes documents
    of both sides is dropped (and counted)."""
    train, val, dropped = [], [], 0
    for record in records:
        sides = {document_side(d, validation_share, seed) for d in record.doc_ids}
        if sides == {"train"}:
            train.append(record)
        elif sides == {"val"}:
            val.append(record)
        else:
            dropped += 1
    return train, val, dropped


def file_hash(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
