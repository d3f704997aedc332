import json
from pathlib import Path

import pytest

from adapters.registry import METADATA_FILE, AdapterError, AdapterRegistry
from tests.adapters.conftest import write_adapter_files


def make_adapter(root, name, **meta):
    return write_adapter_files(root / name, **meta)


@pytest.fixture
def registry(tmp_path):
    return AdapterRegistry(tmp_path / "adapters", pretrained_dir=tmp_path / "builtin")


def test_lists_trained_and_builtin_adapters_with_metadata(registry, tmp_path):
    make_adapter(tmp_path / "builtin", "squad-r8", metrics={"eval_loss": 1.0})
    make_adapter(tmp_path / "adapters", "mine")
    (tmp_path / "adapters" / "not-an-adapter").mkdir()
    listed = {a.name: a for a in registry.list()}
    assert set(listed) == {"squad-r8", "mine"}
    assert listed["squad-r8"].builtin and not listed["mine"].builtin
    assert listed["squad-r8"].metadata["metrics"]["eval_loss"] == 1.0


def test_builtin_is_the_default_until_something_is_chosen(registry, tmp_path):
    assert registry.active() is None
    make_adapter(tmp_path / "builtin", "squad-r8")
    assert registry.active() == "squad-r8"
    registry.use("none")
    assert registry.active() is None and registry.resolve(None) is None


def test_a_builtin_marked_opt_in_is_listed_but_not_the_default(registry, tmp_path):
    make_adapter(tmp_path / "builtin", "strict", default=False)
    assert [a.name for a in registry.list()] == ["strict"]
    assert registry.active() is None
    registry.use("strict")
    assert registry.resolve(None).name == "strict"


def test_the_shipped_adapters_have_metadata_and_fit_the_default_model():
    shipped = AdapterRegistry(Path("/nonexistent"))
    for info in shipped.list():
        assert info.builtin and (info.path / "adapter_model.safetensors").is_file()
        assert info.metadata["base_model"] == "smollm2-135m-instruct" and info.metadata["base_model_sha256"]
        assert info.metadata["metrics"]["best_eval_loss"] < info.metadata["metrics"]["initial_eval_loss"]


def test_use_and_rollback_walk_the_history(registry, tmp_path):
    make_adapter(tmp_path / "adapters", "a")
    make_adapter(tmp_path / "adapters", "b")
    registry.use("a")
    registry.use("b")
    assert registry.resolve(None).name == "b"
    assert registry.rollback() == "a"
    assert registry.active() == "a"
    assert registry.rollback() == "none"
    assert registry.active() is None
    with pytest.raises(AdapterError, match="nothing to roll back"):
        registry.rollback()


def test_a_second_registry_sees_the_switch(registry, tmp_path):
    """What a running bot relies on: the pointer is re-read, not cached forever."""
    make_adapter(tmp_path / "adapters", "a")
    other = AdapterRegistry(tmp_path / "adapters", pretrained_dir=tmp_path / "builtin")
    assert other.active() is None
    registry.use("a")
    assert other.active() == "a"


def test_settings_override_wins_over_the_pointer(registry, tmp_path):
    make_adapter(tmp_path / "adapters", "a")
    make_adapter(tmp_path / "adapters", "b")
    registry.use("a")
    assert registry.resolve("b").name == "b"
    assert registry.resolve("none") is None


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".hidden", "x" * 65])
def test_bad_names_are_refused(registry, name):
    with pytest.raises(AdapterError, match="bad adapter name"):
        registry.resolve(name)


def test_unknown_names_list_the_known_ones(registry, tmp_path):
    make_adapter(tmp_path / "adapters", "a")
    with pytest.raises(AdapterError, match=r"unknown adapter 'zz'.*known: a"):
        registry.use("zz")
    assert registry.active() is None


def test_an_incomplete_adapter_is_named_as_such_and_cannot_be_chosen(registry, tmp_path):
    folder = make_adapter(tmp_path / "adapters", "half")
    (folder / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterError, match=r"adapter 'half' .* is incomplete \(no adapter_model.safetensors\)"):
        registry.use("half")
    assert [a.name for a in registry.list()] == []


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "adapter_model.safetensors").write_bytes((f / "adapter_model.safetensors").read_bytes()[:40]), "adapter_model.safetensors is damaged"),
    (lambda f: (f / "adapter_config.json").write_text("{not json"), "adapter_config.json is not readable JSON"),
    (lambda f: (f / "adapter_config.json").write_text("{}"), "no peft_type"),
])
def test_an_adapter_that_would_not_load_cannot_be_chosen(registry, tmp_path, damage, message):
    """`use` said "active adapter: ..." and every answer then went to a human."""
    registry.use(make_adapter(tmp_path / "adapters", "good").name)
    damage(make_adapter(tmp_path / "adapters", "bad"))
    with pytest.raises(AdapterError, match=message):
        registry.use("bad")
    assert registry.active() == "good"


def test_an_adapter_of_another_base_model_cannot_be_chosen(registry, tmp_path):
    make_adapter(tmp_path / "adapters", "other", base_model="Llama", base_model_sha256="0" * 64)
    with pytest.raises(AdapterError, match="trained on another base model"):
        registry.use("other", base_hash="f" * 64)
    assert registry.use("other", base_hash=None) is None  # the base model's hash unknown: allowed


def test_rollback_refuses_an_adapter_deleted_since(registry, tmp_path):
    import shutil

    make_adapter(tmp_path / "adapters", "a")
    make_adapter(tmp_path / "adapters", "b")
    registry.use("a")
    registry.use("b")
    shutil.rmtree(tmp_path / "adapters" / "a")
    with pytest.raises(AdapterError, match="unknown adapter 'a'"):
        registry.rollback()
    assert registry.active() == "b"


def test_none_is_reserved_for_the_base_model():
    from adapters.registry import check_name

    with pytest.raises(AdapterError, match="reserved"):
        check_name("none")


def test_malformed_metadata_or_pointer_does_not_break_listing(registry, tmp_path):
    good = make_adapter(tmp_path / "adapters", "a")
    (good / METADATA_FILE).write_bytes(b"\xff\xfe\x00garbage")
    make_adapter(tmp_path / "adapters", "b", metrics=[1, 2])
    (tmp_path / "adapters" / "active.json").write_text('{"active": "a", "history": 5}')
    assert {a.name: a.metadata for a in registry.list()} == {"a": {}, "b": {}}
    assert registry.active() == "a"
    with pytest.raises(AdapterError, match="nothing to roll back"):
        registry.rollback()
