"""Query-likelihood reranking: how likely the local language model finds the question, given a passage.

No cross-encoder ships in any package here, and one trained on 1.5k in-domain questions
ranks worse than the hybrid search (docs/benchmarks.md). A causal LM needs no training for
this: score each of the top documents by the mean log-probability of the question's tokens
after a prompt that shows the passage (UPR, Sachan et al. 2022). The first ``depth``
distinct parents are scored once each, in one batch; their hits are re-ordered by
``fused score + weight * (likelihood - best likelihood)``. The cost is one forward pass over
``depth`` passages per question (about 1 s for three with the 135M default on a 2-core CPU,
far less on a GPU), so it is off unless ``likelihood_rerank_depth`` is set. The
pipeline runs it as its own stage (bot/stages/rerank.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

from bot.model_loading import MODEL_LOAD_LOCK, shared_model
from retrieval.types import Hit

MAX_PASSAGE_TOKENS = 300  # longer parents are cut: the start of a section carries its topic


def likelihood_prompt(title: str, passage: str) -> str:
    return f"Title: {title}\nPassage: {passage}\n\nA question answered by this passage:"


class QueryLikelihoodReranker:
    def __init__(self, model_dir: Path, device: str = "cpu") -> None:
        import torch

        from adapters.local import load_causal_lm

        with MODEL_LOAD_LOCK:
            self.tokenizer, self.model = load_causal_lm(model_dir, device)
        self.device = device
        self._torch = torch
        self._lock = threading.Lock()

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def likelihoods(self, query: str, passages: list[tuple[str, str]]) -> list[float]:
        """Mean log-probability of ``query``'s tokens after each (title, passage) prompt."""
        torch = self._torch
        question = self._ids(" " + query.strip())
        if not question or not passages:
            return [0.0] * len(passages)
        rows, starts = [], []
        for title, passage in passages:
            cut = self.tokenizer.decode(self._ids(passage)[:MAX_PASSAGE_TOKENS])
            prefix = self._ids(likelihood_prompt(title, cut))
            rows.append(prefix + question)
            starts.append(len(prefix))
        width = max(len(row) for row in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):  # right padding: the question's positions stay where the prompt ends
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        with self._lock, torch.inference_mode():
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float().cpu()
        result = []
        for i, start in enumerate(starts):
            predicted = torch.log_softmax(logits[i, start - 1 : start - 1 + len(question)], dim=-1)
            result.append(float(predicted.gather(-1, torch.tensor(question)[:, None]).mean()))
        return result

    def rerank(self, query: str, hits: list[Hit], depth: int, weight: float) -> list[Hit]:
        """``hits`` with the first ``depth`` parents' hits re-ordered by the blend; the rest keep their place after them."""
        parents: dict[str, Hit] = {}
        for hit in hits:
            if len(parents) == depth:
                break
            parents.setdefault(hit.chunk.parent_id, hit)
        scores = dict(zip(parents, self.likelihoods(query, [(h.chunk.title, h.chunk.parent_text) for h in parents.values()])))
        if not scores:
            return hits
        best = max(scores.values())
        scored = [h for h in hits if h.chunk.parent_id in scores]
        rest = [h for h in hits if h.chunk.parent_id not in scores]
        for hit in scored:
            hit.likelihood = scores[hit.chunk.parent_id]
        scored.sort(key=lambda h: -(h.score + weight * (h.likelihood - best)))
        return scored + rest


@shared_model(maxsize=2)
def get_likelihood_reranker(model_dir: Path, device: str) -> QueryLikelihoodReranker:
    """The process-wide scorer for ``model_dir``."""
    return QueryLikelihoodReranker(model_dir, device)
