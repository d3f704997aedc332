"""The adapters, finetune and eval commands: one-line errors, registry switching from the CLI."""

import json

import pytest
from typer.testing import CliRunner

from adapters.registry import METADATA_FILE
from bot.cli.main import app
from tests.adapters.conftest import write_adapter_files

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGBOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("RAGBOT_ADAPTER", raising=False)
    for name in ("alpha", "beta"):
        write_adapter_files(tmp_path / "adapters" / name, base_model="smollm2-135m-instruct", metrics={"initial_eval_loss": 2.0, "best_eval_loss": 0.5})
    return tmp_path


def test_use_list_and_rollback(data_dir):
    assert runner.invoke(app, ["adapters", "use", "alpha"]).exit_code == 0
    assert runner.invoke(app, ["adapters", "use", "beta"]).exit_code == 0
    listed = runner.invoke(app, ["adapters", "list"])
    assert listed.exit_code == 0 and "active: beta" in listed.output and "2.0 -> 0.5" in listed.output
    rolled = runner.invoke(app, ["adapters", "rollback"])
    assert rolled.exit_code == 0 and "active adapter: alpha" in rolled.output


def test_unknown_adapter_and_empty_rollback_are_one_line_errors(data_dir):
    result = runner.invoke(app, ["adapters", "use", "gamma"])
    assert result.exit_code == 2 and "unknown adapter 'gamma'" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["adapters", "rollback"])
    assert result.exit_code == 2 and "nothing to roll back" in result.output


@pytest.mark.slow
def test_finetune_validate_names_the_bad_line(data_dir, tmp_path, monkeypatch, smol_dir):
    monkeypatch.setenv("RAGBOT_GENERATOR_MODEL", str(smol_dir))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    result = runner.invoke(app, ["finetune", "validate", str(bad)])
    assert result.exit_code == 2 and "bad.jsonl:line 1: roles must be" in result.output


@pytest.mark.parametrize(
    "command",
    [["finetune", "build-data", "--squad", "SQUAD", "--out", "AFILE"], ["finetune", "export", "--out", "AFILE/sub"],
     ["eval", "answers", "--squad", "SQUAD", "--report", "AFILE"], ["train-reranker", "--squad", "SQUAD", "--out", "AFILE"]],
)
def test_an_output_folder_that_is_a_file_is_refused_before_any_work(data_dir, tmp_path, command):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "kb.json").write_text('{"data": []}')
    args = [a.replace("SQUAD", str(tmp_path / "kb.json")).replace("AFILE", str(tmp_path / "afile")) for a in command]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "is a file, not a folder" in result.output or "cannot create the folder" in result.output


def test_eval_answers_refuses_a_missing_file(data_dir, tmp_path):
    result = runner.invoke(app, ["eval", "answers", "--squad", str(tmp_path / "nope.json")])
    assert result.exit_code == 2 and "is not a file" in result.output


@pytest.mark.slow
def test_finetune_train_stops_where_asked_and_marks_an_opt_in_adapter(data_dir, tmp_path, monkeypatch, smol_dir):
    from adapters.base import Passage
    from adapters.prompt import build_messages

    monkeypatch.setenv("RAGBOT_GENERATOR_MODEL", str(smol_dir))
    facts = [("Normandy", "France"), ("Rollo", "Denmark"), ("Bayeux", "Normandy"), ("Hastings", "England"), ("Caen", "Calvados")]
    folder = tmp_path / "data"
    folder.mkdir()
    for file, rows in (("train.jsonl", facts[:4]), ("val.jsonl", facts[4:])):
        lines = []
        for place, answer in rows:
            messages = build_messages(f"Where is {place}?", [Passage(1, "Facts", f"{place} is in {answer}.")])
            lines.append(json.dumps({"messages": messages + [{"role": "assistant", "content": f"{answer} [1]."}],
                                     "meta": {"doc_ids": [place]}}))
        (folder / file).write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["finetune", "train", "--data", str(folder), "--name", "tiny", "--max-steps", "4", "--stop-at-step", "1",
                                 "--grad-accum", "1", "--rank", "2", "--alpha", "4", "--top-layers", "2", "--opt-in"])
    assert result.exit_code == 0, result.output
    assert "stopped at step 1 as asked (the schedule runs to 4)" in result.output
    meta = json.loads((data_dir / "adapters" / "tiny" / METADATA_FILE).read_text())
    assert meta["default"] is False and meta["settings"]["stop_at_step"] == 1


@pytest.mark.slow
def test_a_run_stopped_by_its_time_limit_is_saved_marked_unfinished_and_not_switched_on(data_dir, tmp_path, monkeypatch, smol_dir):
    """`train --max-minutes 30 --use` made a half-trained adapter answer every question."""
    from adapters.finetune.train import Trainer, TrainResult

    monkeypatch.setenv("RAGBOT_GENERATOR_MODEL", str(smol_dir))
    saved = {}
    monkeypatch.setattr(Trainer, "train", lambda self, *a, **k: TrainResult(3, 3, 300, 60.0, 1.5, [(3, 1.4)], 1.4, 2.0,
                                                                             "time limit of 1.0 minutes reached (resume with the same command)"))
    monkeypatch.setattr(Trainer, "save_adapter", lambda self, target, meta: saved.update(meta) or target)
    folder = tmp_path / "data"
    folder.mkdir()
    from adapters.base import Passage
    from adapters.prompt import build_messages

    line = {"messages": build_messages("Where is Caen?", [Passage(1, "Facts", "Caen is in Calvados.")]) + [{"role": "assistant", "content": "Calvados [1]."}],
            "meta": {"doc_ids": ["Caen"]}}
    (folder / "train.jsonl").write_text(json.dumps(line) + "\n")
    result = runner.invoke(app, ["finetune", "train", "--data", str(folder), "--name", "half", "--max-minutes", "1", "--use"])
    assert result.exit_code == 0, result.output
    assert saved["unfinished"] is True and "not switched to 'half'" in " ".join(result.output.split())
    from adapters.registry import AdapterRegistry

    assert AdapterRegistry(data_dir / "adapters").active() != "half"


@pytest.mark.parametrize("command", [["finetune", "build-data", "--out", "OUT"], ["eval", "retrieval"], ["eval", "answers"]])
def test_a_malformed_squad_file_is_a_one_line_error(data_dir, tmp_path, command):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [{"id": "1"}]}]}]}))
    args = [a.replace("OUT", str(tmp_path / "out")) for a in command] + ["--squad", str(bad)]
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert "question 0: no 'question' text" in result.output


@pytest.mark.parametrize(
    ("command", "message"),
    [(["eval", "retrieval", "--squad", "KB", "--ood", "EMPTY"], "holds no questions"),
     (["eval", "answers", "--squad", "NOQ"], "has no questions to ask"),
     (["eval", "guardrails", "--pii", "EMPTYLIST"], "no texts to evaluate")],
)
def test_empty_inputs_are_an_error_not_a_meaningless_figure(data_dir, tmp_path, command, message):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "noq.json").write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": []}]}]}))
    (tmp_path / "kb.json").write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [
        {"id": "1", "question": "q?", "answers": [{"text": "c"}]}]}]}]}))
    names = {"KB": "kb.json", "EMPTY": "empty.jsonl", "NOQ": "noq.json", "EMPTYLIST": "empty.json"}
    result = runner.invoke(app, [str(tmp_path / names[a]) if a in names else a for a in command])
    assert result.exit_code == 2 and message in result.output and "NaN" not in result.output


@pytest.mark.parametrize(
    "command, existing, what",
    [(["finetune", "build-data", "--squad", "SQUAD", "--out", "OUT"], "train.jsonl", "training data"),
     (["finetune", "export", "--out", "OUT"], "export.jsonl", "an export"),
     (["train-reranker", "--squad", "SQUAD", "--out", "OUT"], "config.json", "a model")],
)
def test_earlier_output_is_not_overwritten_without_force(data_dir, tmp_path, command, existing, what):
    out = tmp_path / "out"
    out.mkdir()
    (out / existing).write_text("hours of work")
    (tmp_path / "kb.json").write_text('{"data": []}')
    args = [a.replace("SQUAD", str(tmp_path / "kb.json")).replace("OUT", str(out)) for a in command]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and f"already holds {what} ({existing}); pass --force" in result.output
    assert (out / existing).read_text() == "hours of work"
    forced = runner.invoke(app, args + ["--force"])
    assert "already holds" not in forced.output  # gets past the check (and fails later on the empty SQuAD file)


@pytest.mark.slow
def test_training_over_a_finished_adapter_needs_force(data_dir, tmp_path, monkeypatch, smol_dir):
    monkeypatch.setenv("RAGBOT_GENERATOR_MODEL", str(smol_dir))
    weights = data_dir / "adapters" / "alpha" / "adapter_model.safetensors"
    before = weights.read_bytes()
    assert runner.invoke(app, ["adapters", "use", "alpha"]).exit_code == 0
    result = runner.invoke(app, ["finetune", "train", "--data", str(tmp_path / "nodata"), "--name", "alpha", "--fresh"])
    assert result.exit_code == 2 and "adapter 'alpha' (the active adapter) already exists" in result.output and "--force" in result.output
    assert weights.read_bytes() == before
    forced = runner.invoke(app, ["finetune", "train", "--data", str(tmp_path / "nodata"), "--name", "alpha", "--fresh", "--force"])
    assert "already exists" not in forced.output


def test_eval_answers_builds_its_knowledge_base_in_a_tenant_of_its_own(data_dir, tmp_path, monkeypatch):
    """On Weaviate the data dir isolates nothing: the SQuAD paragraphs went into the live tenant."""
    import bot.cli.eval_answers as eval_answers
    import retrieval.factory
    from bot.settings import load_settings

    settings = load_settings(tenant="acme", generator_backend="openai", openai_base_url="http://127.0.0.1:9/v1")
    eval_settings, _ = eval_answers._eval_pipeline(settings, tmp_path / "kb", "eval-1234")
    assert eval_settings.tenant == "eval-1234" and eval_settings.data_dir == tmp_path / "kb"

    dropped = []
    monkeypatch.setattr(retrieval.factory, "build_store", lambda s: type("Store", (), {"drop_tenant": lambda self: dropped.append(s.tenant)})())
    eval_answers._drop_knowledge_base(eval_settings.with_overrides({"store": "weaviate", "weaviate_url": "http://127.0.0.1:9"}))
    eval_answers._drop_knowledge_base(eval_settings)  # embedded: its folder goes instead
    assert dropped == ["eval-1234"]


@pytest.mark.slow
def test_eval_answers_says_when_the_generator_failed_and_names_the_adapter(data_dir, tmp_path, monkeypatch):
    """A dead model server's fallbacks counted as abstentions: it looked like a cautious model."""
    monkeypatch.setenv("RAGBOT_GENERATOR_BACKEND", "openai")
    monkeypatch.setenv("RAGBOT_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    paragraph = "Each VPN profile issued by the self-service portal is valid for ninety days, after which a new profile must be generated."
    squad = tmp_path / "kb.json"
    squad.write_text(json.dumps({"data": [{"title": "VPN", "paragraphs": [{"context": paragraph, "qas": [
        {"id": "1", "question": "How long is a VPN profile from the self-service portal valid?", "answers": [{"text": "ninety days"}]}]}]}]}))
    result = runner.invoke(app, ["eval", "answers", "--squad", str(squad), "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "the generator failed or timed out on 1 of 1 questions" in result.output
    report = (tmp_path / "report" / "report.md").read_text()
    assert "(active)" not in report and "generator failures (counted as abstentions)" in report


@pytest.mark.slow
def test_build_data_with_nothing_to_teach_writes_nothing_and_says_why(data_dir, tmp_path, monkeypatch, smol_dir):
    """Only unanswerable questions: empty or abstain-only files were written with exit 0."""
    monkeypatch.setenv("RAGBOT_GENERATOR_MODEL", str(smol_dir))
    squad = tmp_path / "unanswerable.json"
    squad.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"context": "The office opens at nine.", "qas": [
        {"id": "1", "question": "Who founded the office?", "answers": [], "is_impossible": True}]}]}]}))
    result = runner.invoke(app, ["finetune", "build-data", "--squad", str(squad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "to build from" in result.output and "nothing written" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()  # not even the empty folder made before the work
