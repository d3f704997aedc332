"""Fixtures shared by every test package: isolated settings and a clean environment."""

from __future__ import annotations

import os
import uuid
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
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL for the tests (pgserver ships its binaries in a wheel); stopped at exit."""
    pgserver = pytest.importorskip("pgserver", reason="PostgreSQL tests need pgserver (in the dev extra)")
    pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg (in the dev extra)")
    try:  # the unix socket lives in the data dir: keep its path short
        return pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    except Exception as error:  # noqa: BLE001 - say why, visibly, rather than fail every database test
        pytest.skip(f"cannot start PostgreSQL with pgserver: {type(error).__name__}: {error}")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The bot's database as each supported kind: a SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.psql(f'CREATE DATABASE "{name}";')
    return server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def converted_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache dir holding the converted SmolLM2, converted ONCE per test session
    (the conversion itself is under test); every package's tests share it."""
    from adapters.model_store import default_model_dir

    cache = tmp_path_factory.mktemp("model-cache")
    default_model_dir(cache)
    return cache


@pytest.fixture(scope="session")
def smol_dir(converted_cache: Path) -> Path:
    """The converted SmolLM2 directory (pass it as ``generator_model`` to skip conversion)."""
    from adapters.model_store import default_model_dir

    return default_model_dir(converted_cache)
