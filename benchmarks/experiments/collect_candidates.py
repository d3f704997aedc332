"""Collect top-10 doc candidates (hybrid) for dev questions + OOD, save signals."""
# Experiment script behind a "tried, not kept" figure in docs/benchmarks.md (issue 4, session 4).
# Kept as run, lightly parameterized: run from the repository root with .venv/bin/python; scratch goes to $SCRATCH (_paths.py).
import json, sys, pickle
from pathlib import Path
import os
from _paths import DATA, SCRATCH  # also puts the repository on sys.path
from bot.settings import Settings
from retrieval.evaluation import squad_questions, ood_questions, ranked_documents
from retrieval.factory import build_ingestor, build_retriever, build_relevance_scorer
squad = Path(os.path.join(DATA, "squad2-kb-dev.json"))
s = Settings().with_overrides({"data_dir": os.path.join(SCRATCH, "kb"), "tenant": "ql"})
r = build_retriever(s)
if r.count() == 0:
    build_ingestor(s).ingest([squad])
scorer = build_relevance_scorer(s)
qs = squad_questions(squad)
un = squad_questions(squad, answerable=False)
ood = ood_questions(Path(os.path.join(DATA, "ood-questions-dev.jsonl")))
ood = ood[:: len(ood) // 600][:600]
out = {}
for name, items in (("kb", [(q.question, q.gold) for q in qs]), ("un", [(q.question, q.gold) for q in un]), ("ood", [(q, None) for q in ood])):
    vecs = r._embedder().encode([t for t, _ in items])
    rows = []
    for (text, gold), v in zip(items, vecs):
        hits = r.search(text, k=50, alpha=s.alpha, vector=v)
        docs, seen = [], set()
        for h in hits:
            if h.chunk.doc_id in seen: continue
            seen.add(h.chunk.doc_id)
            docs.append(dict(doc=h.chunk.doc_id, title=h.chunk.title, parent=h.chunk.parent_text, score=h.score, cosine=h.cosine, bm25=h.bm25))
            if len(docs) == 10: break
        rows.append(dict(q=text, gold=gold, docs=docs, rel=scorer.relevance(text, hits)))
    out[name] = rows
    print(name, len(rows), flush=True)
pickle.dump(out, open(os.path.join(SCRATCH, "cands.pkl"), "wb"))
