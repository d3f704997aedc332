"""From raw records to validated train/validation splits (shared by build-data, validate and train)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from adapters.finetune.records import DataError, Problem, Record, check_lengths, deduplicate, read_records, split_by_document

TRAIN_FILE = "train.jsonl"
VAL_FILE = "val.jsonl"


@dataclass
class Prepared:
    train: list[Record]
    val: list[Record]
    exact_duplicates: int = 0
    near_duplicates: int = 0
    mixed_dropped: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.train)} train / {len(self.val)} validation examples; removed {self.exact_duplicates} exact and "
                f"{self.near_duplicates} near duplicates; {self.mixed_dropped} dropped for mixing split documents")


def chat_token_counter(tokenizer):
    def count(messages: list[dict[str, str]]) -> int:
        return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])

    return count


def validate(records: list[Record], count_tokens, max_tokens: int) -> tuple[list[Record], int, int, list[Problem]]:
    problems = check_lengths(records, count_tokens, max_tokens)
    bad = {p.line for p in problems}
    kept, exact, near = deduplicate([r for r in records if r.line not in bad])
    return kept, exact, near, problems


def load_data_dir(path: Path, count_tokens, max_tokens: int, validation_share: float = 0.1, seed: int = 0) -> Prepared:
    """Validated records from DIR (train.jsonl + val.jsonl, with any other *.jsonl such as
    export.jsonl added to training; or else all *.jsonl split by document).

    Raises :class:`DataError` listing every bad line (file and line number) before any
    training starts, so a typo in line 9,000 does not cost an hour of training."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(f for f in path.glob("*.jsonl") if f.is_file())  # not a folder named x.jsonl
    if not files:
        raise DataError(f"no .jsonl training files in {path}")
    loaded: dict[Path, list[Record]] = {}
    problems: list[str] = []
    exact_in_files = near_in_files = 0
    for file in files:
        records, bad = read_records(file)
        kept, exact, near, too_long = validate(records, count_tokens, max_tokens)
        problems += [f"{file.name}:{p}" for p in bad + too_long]
        loaded[file] = kept
        exact_in_files, near_in_files = exact_in_files + exact, near_in_files + near
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise DataError(f"{len(problems)} bad line(s): {shown}")
    names = {f.name: f for f in files}
    if TRAIN_FILE in names and VAL_FILE in names:
        val = loaded[names[VAL_FILE]]
        extra = [f for f in files if f.name not in (TRAIN_FILE, VAL_FILE)]  # e.g. `finetune export` output
        train, exact, near = deduplicate([r for f in [names[TRAIN_FILE], *extra] for r in loaded[f]])
        val_docs = {d for r in val for d in r.doc_ids}
        overlap = [r for r in train if set(r.doc_ids) & val_docs]
        if overlap:
            origin = {id(r): f.name for f in files for r in loaded[f]}
            first = overlap[0]
            shared = sorted(set(first.doc_ids) & val_docs)[0]
            raise DataError(f"{origin.get(id(first), TRAIN_FILE)}:line {first.line} shares document {shared!r} with {VAL_FILE} "
                            f"({len(overlap)} training line(s) do; split by document so no passage is in both)")
        return Prepared(train, val, exact_in_files + exact, near_in_files + near, files=files)
    everything = [r for file in files for r in loaded[file]]
    kept, exact, near = deduplicate(everything)
    train, val, mixed = split_by_document(kept, validation_share, seed)
    return Prepared(train, val, exact_in_files + exact, near_in_files + near, mixed, files)
