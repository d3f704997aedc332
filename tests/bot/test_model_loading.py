import pytest
import torch

from bot.cli.common import settings_or_fail
from bot.model_loading import apply_torch_threads
from bot.settings import SettingsError, load_settings


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_unset_torch_threads_leave_the_default(restore_threads):
    apply_torch_threads(None)
    assert torch.get_num_threads() == restore_threads


def test_the_cli_applies_torch_threads_before_any_model_loads(monkeypatch, restore_threads):
    monkeypatch.setenv("RAGBOT_TORCH_THREADS", "1")
    assert settings_or_fail().torch_threads == 1
    assert torch.get_num_threads() == 1


def test_zero_threads_is_a_clear_settings_error(monkeypatch):
    monkeypatch.setenv("RAGBOT_TORCH_THREADS", "0")
    with pytest.raises(SettingsError, match="torch_threads"):
        load_settings()
