from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.setenv("RAGBOT_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def test_missing_path_is_one_line_error(runner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_unsupported_file_is_one_line_error(runner, tmp_path: Path) -> None:
    (tmp_path / "notes.docx").write_text("x")
    result = runner.invoke(app, ["ingest", str(tmp_path / "notes.docx")])
    assert result.exit_code == 2 and "unsupported file type '.docx'" in result.output


@pytest.mark.slow
def test_ingest_reports_counts_and_failures(runner, corpus: Path) -> None:
    (corpus / "broken.pdf").write_bytes(b"not a pdf")
    (corpus / "slides.pptx").write_bytes(b"PK")
    result = runner.invoke(app, ["ingest", str(corpus)])
    assert result.exit_code == 1, result.output  # the rest went in, but a scheduled ingest must notice
    assert "3 added" in result.output and "1 failed" in result.output and "broken.pdf" in result.output
    assert "1 file of unsupported types ignored" in result.output
    again = runner.invoke(app, ["ingest", str(corpus)])
    assert "3 unchanged" in again.output and "0 chunks written" in again.output


def test_empty_folder_says_no_supported_files(runner, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "slides.pptx").write_bytes(b"PK")
    result = runner.invoke(app, ["ingest", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
    assert "0 files" in result.output and "no supported files found (.htm, .html" in result.output


def test_a_store_failure_is_one_line(runner, corpus: Path, monkeypatch) -> None:
    import retrieval.factory

    def broken(settings):
        raise RuntimeError("Retryable commit conflict for version 7\n  at lance::dataset ...")

    monkeypatch.setattr(retrieval.factory, "build_ingestor", broken)
    result = runner.invoke(app, ["ingest", str(corpus)])
    assert result.exit_code == 2 and "ingest stopped: RuntimeError: Retryable commit conflict for version 7" in result.output
    assert "Traceback" not in result.output and "lance::dataset" not in result.output


def test_a_second_ingest_waits_for_the_first(tmp_path: Path, capsys) -> None:
    import threading

    from bot.cli.ingest import _one_ingest_at_a_time

    held = _one_ingest_at_a_time(tmp_path)
    got = threading.Event()
    second = threading.Thread(target=lambda: (_one_ingest_at_a_time(tmp_path), got.set()))
    second.start()
    assert not got.wait(0.5)  # blocked while the first holds the data dir
    held.close()
    assert got.wait(5)
    second.join()
    assert "another ingest is running" in capsys.readouterr().out


@pytest.mark.slow
def test_changed_chunk_settings_are_refused_until_a_rebuild(runner, corpus: Path, monkeypatch) -> None:
    """Chunk settings (and the embedding model) apply only to documents that change, and vectors
    from two models cannot be compared: ingest, ask and serve say so instead of mixing them."""
    assert runner.invoke(app, ["ingest", str(corpus)]).exit_code == 0
    monkeypatch.setenv("RAGBOT_CHUNK_TOKENS", "128")
    refused = runner.invoke(app, ["ingest", str(corpus)])
    assert refused.exit_code == 2 and "chunk_tokens 48 -> 128" in refused.output and "--rebuild" in refused.output
    asked = runner.invoke(app, ["ask", "How do I connect to the VPN?"])
    assert asked.exit_code == 2 and "built with other settings" in asked.output
    rebuilt = runner.invoke(app, ["ingest", "--rebuild", str(corpus)])
    assert rebuilt.exit_code == 0 and "3 added" in rebuilt.output
    assert runner.invoke(app, ["ingest", str(corpus)]).exit_code == 0  # the new settings are the recorded ones now


@pytest.mark.slow
def test_a_stored_knowledge_base_without_its_settings_record_is_not_mixed_into(runner, corpus: Path, tmp_path: Path, monkeypatch) -> None:
    """A restore without knowledge_base.json (or a store from before it existed) took on the
    settings of the next ingest, whatever its chunks were built with."""
    assert runner.invoke(app, ["ingest", str(corpus)]).exit_code == 0
    (tmp_path / "data" / "knowledge_base.json").unlink()
    monkeypatch.setenv("RAGBOT_CHUNK_TOKENS", "64")
    refused = runner.invoke(app, ["ingest", str(corpus)])
    assert refused.exit_code == 2 and "no record of the embedding model and chunk settings" in refused.output
    assert "--rebuild" in refused.output and "--adopt-settings" in refused.output
    assert not (tmp_path / "data" / "knowledge_base.json").exists()
    monkeypatch.delenv("RAGBOT_CHUNK_TOKENS")
    adopted = runner.invoke(app, ["ingest", "--adopt-settings", str(corpus)])
    assert adopted.exit_code == 0 and "3 unchanged" in adopted.output
    monkeypatch.setenv("RAGBOT_CHUNK_TOKENS", "64")
    assert "chunk_tokens 48 -> 64" in runner.invoke(app, ["ingest", str(corpus)]).output  # compared from now on



def test_an_ingest_cut_off_midway_has_already_recorded_its_settings(runner, corpus: Path, monkeypatch) -> None:
    """The record was written at the end: after Ctrl-C, an ingest with other chunk settings mixed
    its chunks with the first run's silently."""
    from retrieval.ingest import Ingestor

    real_write = Ingestor._write

    def cut_off_after_writing(self, pending, report):
        real_write(self, pending, report)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Ingestor, "_write", cut_off_after_writing)
        cut = runner.invoke(app, ["ingest", str(corpus)])
        assert cut.exit_code == 130 and "interrupted" in cut.output and "run the same command again" in cut.output
    monkeypatch.setenv("RAGBOT_CHUNK_TOKENS", "128")
    refused = runner.invoke(app, ["ingest", str(corpus)])
    assert refused.exit_code == 2 and "chunk_tokens 48 -> 128" in refused.output
