"""Reader-only: does showing the 135M model the question's best sentences, not the whole paragraph, help?"""
# Gold paragraph as the one passage; variants: whole paragraph, top-k sentences (original order).
import sys, json, random, time, os
from _paths import DATA, SCRATCH  # also puts the repository on sys.path
import numpy as np, torch
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
from bot.settings import Settings
from adapters.base import Passage
from adapters.local import TransformersGenerator
from adapters.evaluation import sample_questions, contains_answer
from adapters.finetune.squad import load_squad
from bot.stages.generate import is_abstention
from guardrails.grounding.support import split_sentences, content_words, cached_embed

N = int(sys.argv[1]) if len(sys.argv) > 1 else 60
variants = sys.argv[2].split(",") if len(sys.argv) > 2 else ["full", "top2", "top3"]
adapter = os.environ.get("ADAPTER", "none")
squad = os.path.join(DATA, "squad2-kb-dev.json")
paragraphs, _ = load_squad(__import__("pathlib").Path(squad))
text = {p.doc_id: p for p in paragraphs}
qs = sample_questions(__import__("pathlib").Path(squad), None, N, 0, ["Normans", "Packet_switching"])
s = Settings(adapter=adapter)
gen = TransformersGenerator(s)

def focus(question, para, k):
    sents = split_sentences(para)
    if len(sents) <= k:
        return para
    q = cached_embed([question])[0]; e = cached_embed(sents)
    cos = e @ q
    qw = content_words(question)
    lex = np.array([len(qw & content_words(x)) / max(1, len(qw)) for x in sents])
    score = cos + lex
    keep = sorted(np.argsort(-score)[:k])
    return " ".join(sents[i] for i in keep)

res = {v: {"answerable": [], "unanswerable": []} for v in variants}
t0 = time.time()
for q in qs:
    p = text[q.doc_id]
    for v in variants:
        body = p.text if v == "full" else focus(q.question, p.text, int(v[3:]))
        g = gen.generate(q.question, [Passage(1, p.title, body)], settings=s)
        ab = is_abstention(g.text)
        verdict = "abstained" if ab else ("correct" if q.category == "unanswerable" or contains_answer(g.text, q.answers) else "wrong")
        if q.category == "unanswerable" and not ab:
            verdict = "answered"
        res[v][q.category].append(verdict)
print("adapter", adapter, "n", N, "time", round(time.time() - t0))
for v in variants:
    for c in ("answerable", "unanswerable"):
        xs = res[v][c]
        print(v, c, {k: round(xs.count(k) / len(xs), 2) for k in sorted(set(xs))})
