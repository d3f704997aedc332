"""Wires real components into the default pipeline from settings (the composition root)."""

from __future__ import annotations

from functools import partial

from bot.pipeline import Pipeline
from bot.settings import Settings
from bot.stages import GenerateStage, InputGuardStage, LikelihoodRerankStage, OutputGuardStage, RelevanceGateStage, RetrieveStage


def build_pipeline(settings: Settings, *, serving: bool = False) -> Pipeline:
    """The pipeline as a list of stages. Heavy models load lazily, on first use.

    ``serving=True`` (``ragbot serve``) also adds the answer cache, store deadlines and
    retries, the restartable generator process, and the question log and metrics observers;
    use :func:`bot.runtime.wiring.install_serving_parts` directly to get hold of them."""
    from adapters.factory import build_generator
    from guardrails.input import input_validators
    from bot.stages.passage_guard import build_passage_guard
    from guardrails.output import output_validators
    from retrieval.factory import build_relevance_scorer, build_retriever, likelihood_reranker

    stages = [
        InputGuardStage(input_validators(settings)),
        RetrieveStage(build_retriever(settings)),
        LikelihoodRerankStage(partial(likelihood_reranker, settings)),
        RelevanceGateStage(build_relevance_scorer(settings)),
        build_passage_guard(settings),
        GenerateStage(build_generator(settings)),
        OutputGuardStage(output_validators(settings)),
    ]
    pipeline = Pipeline(stages, settings)
    if serving:
        from bot.runtime.wiring import install_serving_parts

        install_serving_parts(pipeline, settings)
    return pipeline
