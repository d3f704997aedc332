"""The pipeline's stages, one small class each, in the order a question meets them."""

from bot.stages.generate import GenerateStage
from bot.stages.guard import InputGuardStage, OutputGuardStage
from bot.stages.relevance_gate import RelevanceGateStage
from bot.stages.rerank import LikelihoodRerankStage
from bot.stages.retrieve import RetrieveStage

__all__ = ["InputGuardStage", "RetrieveStage", "LikelihoodRerankStage", "RelevanceGateStage", "GenerateStage", "OutputGuardStage"]
