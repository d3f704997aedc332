"""Experiment: fine-tune MiniLM bi-encoder on odd articles (holdout 0/2), MNRL with hard negatives."""
# Experiment script behind a "tried, not kept" figure in docs/benchmarks.md (issue 4, session 4).
# Kept as run, lightly parameterized: run from the repository root with .venv/bin/python; the output folder is the first argument.
import sys, time, tempfile, random, json
from pathlib import Path
import os
from _paths import DATA  # also puts the repository on sys.path
from bot.settings import Settings
from retrieval.embedder import packaged_minilm_path
from retrieval.factory import build_ingestor, build_retriever, chunker_for
from retrieval.reranker_training import TrainingConfig, build_groups

squad = Path(os.path.join(DATA, "squad2-kb-dev.json"))
out = Path(sys.argv[1]); epochs = int(sys.argv[2]); negs = int(sys.argv[3]); unans = sys.argv[4] == "1"
settings = Settings()
cfg = TrainingConfig(negatives=negs, holdout="0/2", include_unanswerable=unans, alpha=settings.alpha, depth=30)
t0 = time.time()
with tempfile.TemporaryDirectory() as scratch:
    kb = settings.with_overrides({"data_dir": scratch, "store": "lancedb", "tenant": "train", "reranker_model": None})
    build_ingestor(kb).ingest([squad])
    groups = build_groups(squad, build_retriever(kb), chunker_for(kb), cfg)
print("groups", len(groups), "mined in", round(time.time()-t0), flush=True)
from sentence_transformers import SentenceTransformer
import torch
torch.manual_seed(13)
model = SentenceTransformer(str(packaged_minilm_path()), device="cpu")
triples = [(g.question, g.positive, g.negatives[:negs]) for g in groups]
rng = random.Random(13)
bs = 32
steps = epochs * (len(triples) // bs)
opt = torch.optim.AdamW(model.parameters(), lr=float(sys.argv[5]) if len(sys.argv) > 5 else 2e-5)
from transformers import get_linear_schedule_with_warmup
sched = get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)
def emb(texts):
    f = model.tokenize(texts)
    return torch.nn.functional.normalize(model(f)["sentence_embedding"], dim=-1)
model.train()
t1 = time.time(); step = 0
for ep in range(epochs):
    rng.shuffle(triples)
    for i in range(0, len(triples) // bs * bs, bs):
        b = triples[i:i+bs]
        q = emb([t[0] for t in b]); p = emb([t[1] for t in b])
        negs_flat = [n for t in b for n in t[2]]
        d = torch.cat([p, emb(negs_flat)]) if negs_flat else p
        scores = q @ d.T * 20.0
        loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(b)))
        loss.backward(); opt.step(); sched.step(); opt.zero_grad(); step += 1
        if step % 10 == 0: print("step", step, steps, round(float(loss), 3), flush=True)
print("trained", len(triples), "in", round(time.time()-t1), flush=True)
model.eval()
model.save(str(out))
