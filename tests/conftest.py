"""Fixtures shared by every test package: isolated settings and a clean environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
HANDBOOK = REPO / "examples" / "handbook"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _clean_ragbot_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's RAGBOT_* variables or a ragbot.toml in the working dir."""
    for name in list(os.environ):
        if name.startswith("RAGBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RAGBOT_CONFIG", str(REPO / "tests" / "empty.toml"))


@pytest.fixture
def make_settings(tmp_path: Path):
    """Settings rooted in this test's tmp dir; keyword arguments override fields."""
    from bot.settings import load_settings

    def make(**values):
        values.setdefault("data_dir", tmp_path / "data")
        return load_settings(**values)

    return make


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One converted-model cache for the whole session (the GGUF conversion runs once)."""
    return tmp_path_factory.mktemp("model-cache")
