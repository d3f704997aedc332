"""Shared fixtures: the default model converted ONCE per test session into a tmp cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.settings import load_settings


# `converted_cache` and `smol_dir` (the model converted once per session) live in tests/conftest.py.


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory, converted_cache):
    """A data dir whose models/ is the converted cache, so generators load in seconds."""
    data = tmp_path_factory.mktemp("data")
    (data / "models").symlink_to(converted_cache, target_is_directory=True)
    return data


@pytest.fixture(scope="session")
def local_generator(session_data_dir):
    from adapters.local import TransformersGenerator
    from adapters.registry import AdapterRegistry

    settings = load_settings(data_dir=session_data_dir, max_new_tokens=24, device="cpu", generation_timeout_s=600)
    generator = TransformersGenerator(settings, AdapterRegistry(settings.adapters_dir, pretrained_dir=session_data_dir / "no-builtin"))
    return generator


def write_adapter_files(folder: Path, **meta) -> Path:
    """An adapter folder that passes the registry's checks (a peft config, a real safetensors file)."""
    import torch
    from safetensors.torch import save_file

    from adapters.registry import METADATA_FILE

    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    save_file({"lora_A": torch.zeros(2, 2)}, str(folder / "adapter_model.safetensors"))
    (folder / METADATA_FILE).write_text(json.dumps(meta))
    return folder
