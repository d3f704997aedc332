"""Experiment: LoRA-tune SmolLM2 for query likelihood (contrastive over sibling paragraphs + MLE) on odd articles."""
# Experiment script behind a "tried, not kept" figure in docs/benchmarks.md (issue 4, session 4).
# Kept as run, lightly parameterized: run from the repository root with .venv/bin/python; the output folder is the first argument.
import sys, json, random, time
from pathlib import Path
import os
from _paths import DATA  # also puts the repository on sys.path
import torch
from bot.settings import Settings
from adapters.model_store import resolve_model_dir
from adapters.local import load_causal_lm
from retrieval.likelihood import likelihood_prompt, MAX_PASSAGE_TOKENS

out = Path(sys.argv[1]); epochs = int(sys.argv[2]); K = int(sys.argv[3]); per_par = int(sys.argv[4]); lr = float(sys.argv[5]); scale = float(sys.argv[6])
torch.manual_seed(13); rng = random.Random(13)
torch.set_num_threads(2)
s = Settings()
mdir = resolve_model_dir(s.generator_model, s.model_cache_dir)
tok, model = load_causal_lm(mdir, "cpu")
from peft import LoraConfig, get_peft_model
model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM"))
model.train()
ids = lambda t: tok(t, add_special_tokens=False)["input_ids"]
data = json.load(open(os.path.join(DATA, "squad2-kb-dev.json")))["data"]
articles = []; article_texts = []
for ai, art in enumerate(data):
    if ai % 2 != 1: continue
    title = art["title"].replace("_", " ")
    pars = []
    for p in art["paragraphs"]:
        qs = [q["question"].strip() for q in p["qas"]]
        cut = tok.decode(ids(p["context"])[:MAX_PASSAGE_TOKENS])
        pars.append((ids(likelihood_prompt(title, cut)), [ids(" " + q) for q in qs if q]))
    articles.append(pars); article_texts.append([p['context'] for p in art['paragraphs']])
from retrieval.embedder import get_embedder
emb = get_embedder()
groups = []
for pars, texts in zip(articles, article_texts):
    v = emb.encode(texts)
    sim = v @ v.T
    for i in range(len(pars)):
        near = [j for j in sim[i].argsort()[::-1] if j != i][: K - 1]
        groups.append([pars[i]] + [pars[j] for j in near])
print("groups", len(groups), flush=True)
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
steps = epochs * len(groups)
from transformers import get_linear_schedule_with_warmup
sched = get_linear_schedule_with_warmup(opt, max(1, steps // 10), steps)

def scores(prefix, questions):
    """mean log-prob of each question after prefix (KV of prefix computed once)."""
    pre = torch.tensor([prefix])
    o = model(input_ids=pre, use_cache=True)
    cache = o.past_key_values
    last = torch.log_softmax(o.logits[0, -1].float(), -1)  # first question token
    n = len(questions)
    cache.batch_repeat_interleave(n)
    width = max(len(q) for q in questions)
    q = torch.zeros((n, width), dtype=torch.long); m = torch.zeros((n, width), dtype=torch.long)
    for i, qq in enumerate(questions):
        q[i, :len(qq)] = torch.tensor(qq); m[i, :len(qq)] = 1
    att = torch.cat([torch.ones((n, len(prefix)), dtype=torch.long), m], 1)
    lo = torch.log_softmax(model(input_ids=q, attention_mask=att, past_key_values=cache).logits.float(), -1)
    # token t of question predicted by position t-1 (t>=1), token 0 by `last`
    first = last[q[:, 0]]
    rest = lo[:, :-1].gather(-1, q[:, 1:, None])[..., 0] * m[:, 1:]
    lens = m.sum(1)
    return (first + rest.sum(1)) / lens

t0 = time.time(); step = 0; ema = None
for ep in range(epochs):
    rng.shuffle(groups)
    for g in groups:
        qs, gold = [], []
        for j, (_, questions) in enumerate(g):
            pick = questions[:]; rng.shuffle(pick)
            for qq in pick[:per_par]:
                qs.append(qq); gold.append(j)
        mat = torch.stack([scores(prefix, qs) for prefix, _ in g], 1)  # [Nq, K]
        gold_t = torch.tensor(gold)
        ce = torch.nn.functional.cross_entropy(mat * scale, gold_t)
        mle = -mat.gather(1, gold_t[:, None]).mean()
        loss = ce + mle
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); sched.step(); opt.zero_grad(); step += 1
        ema = float(loss) if ema is None else 0.9 * ema + 0.1 * float(loss)
        acc = float((mat.argmax(1) == gold_t).float().mean())
        if step % 5 == 0: print(f"step {step}/{steps} loss {ema:.3f} ce {float(ce):.3f} mle {float(mle):.3f} acc {acc:.2f} {time.time()-t0:.0f}s", flush=True)
model.save_pretrained(str(out))
print("done", time.time() - t0, flush=True)
