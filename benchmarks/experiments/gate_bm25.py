"""Gate: does raw BM25 (top, per question word) or a cosine gap add to the calibrated relevance? Folds by article / topic half."""
# Experiment script behind a "tried, not kept" figure in docs/benchmarks.md (issue 4, session 4).
# Run from the repository root after collect_candidates.py; scratch in $SCRATCH (default /tmp/ragbot-exp).
import pickle, numpy as np, sys, math, re, os
from _paths import SCRATCH  # also puts the repository on sys.path
from retrieval.evaluation import auroc
from sklearn.linear_model import LogisticRegression
d = pickle.load(open(os.path.join(SCRATCH, "cands.pkl"), "rb"))
kb, ood = d["kb"], d["ood"]
def logit(p): p = min(max(p, 1e-6), 1 - 1e-6); return math.log(p / (1 - p))
def nq(q): return max(1, len(re.findall(r"\w+", q)))
def feats(r):
    b = [x["bm25"] or 0.0 for x in r["docs"][:3]]
    c = [x["cosine"] or 0.0 for x in r["docs"][:10]]
    return [logit(r["rel"]), math.log1p(max(b)), max(b) / nq(r["q"]), c[0] - np.mean(c[1:])]
names = ["rel", "logbm25", "bm25/q", "cosgap"]
X = np.array([feats(r) for r in kb] + [feats(r) for r in ood]); y = np.array([1]*len(kb) + [0]*len(ood))
for i, n in enumerate(names): print(n, "AUROC", round(auroc(list(X[y==1,i]), list(X[y==0,i])), 4))
# CV folds by article for kb, by topic chunk for ood
arts = sorted({r["gold"].rsplit("#",1)[0] for r in kb})
fold = np.array([arts.index(r["gold"].rsplit("#",1)[0]) % 2 for r in kb] + [i * 2 // len(ood) for i in range(len(ood))])
for cols in ([0], [0,1], [0,2], [0,3], [0,1,2,3]):
    pred = np.zeros(len(y))
    for f in (0, 1):
        tr, te = fold != f, fold == f
        m = LogisticRegression(class_weight="balanced", max_iter=1000).fit(X[tr][:, cols], y[tr]); pred[te] = m.decision_function(X[te][:, cols])
    out = [f"cv AUROC {auroc(list(pred[y==1]), list(pred[y==0])):.4f}"]
    for pr in (0.02, 0.03):
        t = np.quantile(pred[y==0], 1 - pr); out.append(f"keep@{pr} {np.mean(pred[y==1] > t):.3f}")
    print([names[c] for c in cols], *out)
