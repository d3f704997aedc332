import pytest

from bot.settings import load_settings


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path)


@pytest.fixture(scope="session")
def pii_engine():
    """One Presidio engine for the whole session (about 4 s to build)."""
    from guardrails.pii import get_engine

    return get_engine()
