"""R@1 on even-article KB questions: hybrid vs hybrid+QL(base) vs hybrid+QL(adapter), top-3, weight sweep."""
# Experiment script behind a "tried, not kept" figure in docs/benchmarks.md (issue 4, session 4).
# Kept as run, lightly parameterized: run from the repository root with .venv/bin/python; scratch goes to $SCRATCH (_paths.py).
import sys, json, pickle, random, threading, time
import os
from _paths import DATA, SCRATCH  # also puts the repository on sys.path
import numpy as np, torch
torch.set_num_threads(2)
from bot.settings import Settings
from adapters.model_store import resolve_model_dir
from retrieval.likelihood import QueryLikelihoodReranker
adapter = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "base" else None
N = int(sys.argv[2]) if len(sys.argv) > 2 else 250
depth = int(sys.argv[3]) if len(sys.argv) > 3 else 3
data = json.load(open(os.path.join(DATA, "squad2-kb-dev.json")))["data"]
even = {a["title"] for i, a in enumerate(data) if i % 2 == 0}
rows = [r for r in pickle.load(open(os.path.join(SCRATCH, "cands.pkl"), "rb"))["kb"] if r["gold"].rsplit("#", 1)[0] in even]
random.Random(0).shuffle(rows); rows = rows[:N]
s = Settings()
r = QueryLikelihoodReranker(resolve_model_dir(s.generator_model, s.model_cache_dir), "cpu")
if adapter:
    from peft import PeftModel
    r.model = PeftModel.from_pretrained(r.model, adapter).merge_and_unload().eval()
t0 = time.time()
for row in rows:
    ds = row["docs"][:depth]
    for d, l in zip(ds, r.likelihoods(row["q"], [(d["title"], d["parent"]) for d in ds])):
        d["ql"] = l
print("scored", len(rows), "in", round(time.time() - t0), "s")
print("hybrid R@1", np.mean([row["docs"][0]["doc"] == row["gold"] for row in rows]))
print("gold in top", depth, np.mean([any(d["doc"] == row["gold"] for d in row["docs"][:depth]) for row in rows]))
for w in (0.3, 0.5, 0.7, 1.0, 1.5, 3.0, 100.0):
    res = []
    for row in rows:
        ds = row["docs"][:depth]; m = max(d["ql"] for d in ds)
        res.append(max(ds, key=lambda d: d["score"] + w * (d["ql"] - m))["doc"] == row["gold"])
    print(f"w={w}: R@1 {np.mean(res):.3f}")
pickle.dump(rows, open(f"{SCRATCH}/eval_{'base' if not adapter else adapter.split('/')[-1]}_{depth}.pkl", "wb"))
