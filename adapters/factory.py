"""Builds the configured generator backend; nothing heavy loads until the first ``generate``."""

from __future__ import annotations

from adapters.base import Generator
from bot.settings import Settings


def build_generator(settings: Settings) -> Generator:
    if settings.generator_backend == "openai":
        from adapters.openai_http import OpenAIGenerator

        return OpenAIGenerator(settings)
    from adapters.local import TransformersGenerator

    return TransformersGenerator(settings)
