"""Training data: building from SQuAD, validation that names bad lines, dedup, split by document."""

import json

import pytest

from adapters.finetune.prepare import load_data_dir
from adapters.finetune.records import DataError, Record, deduplicate, parse_line, read_records, split_by_document, write_records
from adapters.prompt import ABSTAIN_SENTENCE, SYSTEM_PROMPT


def chars(messages):
    return sum(len(m["content"]) for m in messages) // 4


def record(question, answer, doc="doc#0", passage="Normandy is in France."):
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Context:\n[1] Normans\n{passage}\n\nQuestion: {question}"},
        {"role": "assistant", "content": answer},
    ]
    return Record(messages, {"doc_ids": [doc]})


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parse_line_names_each_kind_of_problem():
    good = record("Where?", "France [1].").to_json()
    assert parse_line(good, 1).answer == "France [1]."
    cases = {
        "{not json": "line 3: not valid JSON",
        json.dumps({"text": "x"}): "line 3: expected an object with a 'messages' list",
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}): "roles must be",
        json.dumps({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": " "}, {"role": "assistant", "content": "a"}]}): "user message has no text",
        json.dumps({"messages": json.loads(good)["messages"], "meta": {"doc_ids": "doc"}}): "meta.doc_ids must be a list",
    }
    for text, message in cases.items():
        with pytest.raises(DataError, match=message):
            parse_line(text, 3)


def test_read_records_collects_problems_with_line_numbers(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [record("Where?", "France [1].").to_json(), "", "oops", record("Who?", "Rollo [1].").to_json()])
    records, problems = read_records(path)
    assert [r.line for r in records] == [1, 4]
    assert [str(p) for p in problems] == ["line 3: not valid JSON (Expecting value at column 1)"]


def test_exact_and_near_duplicates_are_removed():
    records = [
        record("Where is Normandy located?", "France [1]."),
        record("Where is Normandy located?", "France [1]."),  # exact
        record("where is normandy located", "France [1]."),  # near: same doc, answer, words
        record("Where is Normandy located?", "France [1].", doc="doc#9", passage="Normandy lies in northern France."),  # other document: kept
        record("Who ruled Normandy?", "Rollo [1]."),
    ]
    kept, exact, near = deduplicate(records)
    assert (len(kept), exact, near) == (3, 1, 1)


def test_split_by_document_never_shares_a_document():
    records = [record(f"Question {i}?", f"A{i} [1].", doc=f"doc#{i % 20}") for i in range(200)]
    records.append(Record(record("Mixed?", "x").messages, {"doc_ids": ["doc#0", "doc#1", "doc#2", "doc#3", "doc#4", "doc#5"]}))
    train, val, mixed = split_by_document(records, 0.3, seed=1)
    assert train and val
    assert not {d for r in train for d in r.doc_ids} & {d for r in val for d in r.doc_ids}
    assert len(train) + len(val) + mixed == len(records)


def test_load_data_dir_refuses_bad_and_too_long_lines_naming_them(tmp_path):
    write_lines(tmp_path / "a.jsonl", [record("Where?", "France [1].").to_json(), '{"messages": []}'])
    write_lines(tmp_path / "b.jsonl", [record("Long?", "x", passage="word " * 3000).to_json()])
    with pytest.raises(DataError) as caught:
        load_data_dir(tmp_path, chars, 256)
    message = str(caught.value)
    assert "2 bad line(s)" in message and "a.jsonl:line 2: roles must be" in message and "b.jsonl:line 1:" in message
    assert "over the 256-token context" in message


def test_load_data_dir_splits_plain_files_by_document(tmp_path):
    write_records(tmp_path / "export.jsonl", [record(f"Q{i} about {i}?", f"A{i} [1].", doc=f"d{i}") for i in range(50)])
    prepared = load_data_dir(tmp_path, chars, 512, validation_share=0.3)
    assert len(prepared.train) + len(prepared.val) == 50 and prepared.val
    assert not {d for r in prepared.train for d in r.doc_ids} & {d for r in prepared.val for d in r.doc_ids}


def test_an_explicit_split_that_leaks_a_document_is_refused(tmp_path):
    write_records(tmp_path / "train.jsonl", [record("Q1?", "A [1].", doc="d0")])
    write_records(tmp_path / "export.jsonl", [record("Q3?", "C [1].", doc="d1")])
    write_records(tmp_path / "val.jsonl", [record("Q2?", "B [1].", doc="d1")])
    (tmp_path / "old.jsonl").mkdir()  # a folder with a .jsonl name is not a data file (it was a traceback)
    with pytest.raises(DataError, match="export.jsonl:line 1 shares document 'd1' with val.jsonl"):
        load_data_dir(tmp_path, chars, 512)


def test_other_files_beside_an_explicit_split_are_trained_on_and_duplicates_counted(tmp_path):
    write_records(tmp_path / "train.jsonl", [record("Q1?", "A [1].", doc="d1")] * 3)
    write_records(tmp_path / "val.jsonl", [record("Q2?", "B [1].", doc="d2")])
    write_records(tmp_path / "export.jsonl", [record("Q1?", "A [1].", doc="d1"), record("Q3?", "C [1].", doc="d3")])
    prepared = load_data_dir(tmp_path, chars, 512)
    assert sorted(r.messages[-1]["content"] for r in prepared.train) == ["A [1].", "C [1]."]
    assert prepared.exact_duplicates == 3 and len(prepared.val) == 1


SQUAD = {"data": [
    {"title": "Normans", "paragraphs": [
        {"context": "The Normans gave their name to Normandy, a region in France. Rollo was their first ruler.",
         "qas": [{"id": "q1", "question": "Where is Normandy?", "answers": [{"text": "France", "answer_start": 0}] * 3 + [{"text": "in France", "answer_start": 0}], "is_impossible": False},
                 {"id": "q2", "question": "Who was the last Norman ruler?", "answers": [], "is_impossible": True}]},
        {"context": "Norman architecture has round arches and massive walls.",
         "qas": [{"id": "q3", "question": "What arches does Norman architecture have?", "answers": [{"text": "round arches", "answer_start": 0}], "is_impossible": False}]},
    ]},
    {"title": "Steam engine", "paragraphs": [
        {"context": "A steam engine performs mechanical work using steam as its working fluid.",
         "qas": [{"id": "q4", "question": "What is the working fluid of a steam engine?", "answers": [{"text": "steam", "answer_start": 0}], "is_impossible": False}]},
    ]},
]}


@pytest.mark.slow
def test_build_examples_from_squad_cite_the_gold_passage_or_abstain(tmp_path):
    from adapters.finetune.squad import BuildOptions, build_examples, load_squad

    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD))
    paragraphs, questions = load_squad(path)
    records = build_examples(paragraphs, questions, BuildOptions(no_gold_share=1.0, abstain_share=0.9, validation_share=0.0))
    by_kind = {}
    for r in records:
        by_kind.setdefault(r.meta["kind"], []).append(r)
    answer = next(r for r in by_kind["answerable"] if r.meta["question_id"] == "q1")
    assert answer.answer.startswith("France [")  # the answer most annotators gave
    cited = int(answer.answer.split("[")[1].split("]")[0])
    assert f"[{cited}] Normans\nThe Normans gave their name" in answer.messages[1]["content"]
    assert all(r.answer == ABSTAIN_SENTENCE for r in by_kind["unanswerable"] + by_kind["no_gold"])
    no_gold = by_kind["no_gold"][0]
    assert no_gold.meta["held_back"] not in no_gold.messages[1]["content"]
    held = build_examples(paragraphs, questions, BuildOptions(holdout_articles=("Steam engine",)))
    assert all(r.meta["question_id"] != "q4" for r in held)


def test_a_data_file_that_is_not_utf8_is_a_data_error(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(DataError, match="train.jsonl: not valid UTF-8"):
        read_records(path)
