"""The one SQuAD reader: a malformed file is one error naming the place, for every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.squad import NotSquad, SquadFormatError, read_squad


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "kb.json"
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return path


def test_paragraphs_questions_and_ids(tmp_path):
    path = _write(tmp_path, {"data": [{"title": "Oxygen", "paragraphs": [{"context": "O2 is a gas.", "qas": [
        {"id": "q1", "question": " What is O2? ", "answers": [{"text": "a gas"}]},
        {"question": "Who named it?", "answers": [], "is_impossible": True}]}]}]})
    [paragraph] = read_squad(path)
    assert (paragraph.doc_id, paragraph.article, paragraph.context) == ("Oxygen#0", 0, "O2 is a gas.")
    first, second = paragraph.questions
    assert (first.id, first.question, first.answers, first.impossible) == ("q1", "What is O2?", ["a gas"], False)
    assert second.impossible and second.id == "Oxygen#0#1"  # no id in the file: a stable one


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe\x00\x01", "not valid UTF-8"),
        (b'{"data": [', r"invalid JSON \(line 1"),
        ({"data": ["x"]}, "article 0 is not a SQuAD article"),
        ({"data": [{"title": "T", "paragraphs": [{"qas": []}]}]}, "article 'T', paragraph 0: 'context' is not text"),
        ({"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [{"id": "1"}]}]}]}, "paragraph 0, question 0: no 'question' text"),
        ({"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [{"question": "q", "answers": "a"}]}]}]}, "'answers' is not a list"),
    ],
)
def test_malformed_files_name_the_place(tmp_path, data, message):
    with pytest.raises(SquadFormatError, match=message):
        read_squad(_write(tmp_path, data))


def test_json_of_another_shape_is_not_squad(tmp_path):
    with pytest.raises(NotSquad, match="SQuAD 2.0 format"):
        read_squad(_write(tmp_path, {"data": {"a": 1}}))
