"""Which text a thread's follow-up is searched with: measured on handbook threads (session 13).

Each labelled thread (benchmarks/data/handbook_follow_ups.json) ends in a follow-up whose answer
lies in a known section of examples/handbook. The earlier questions are asked through the real
pipeline first (their answers are the bot's own), then the follow-up is searched four ways in
the same run, and for each the top hit's section and the relevance gate's verdict are checked:

- the follow-up alone;
- the last question and the bot's last reply before it (what ragbot did up to session 12);
- the last two questions (session 13: ``bot.stages.retrieve.search_text``);
- the last two questions and the last answer, when one was given.

    RAGBOT_DATA_DIR=/tmp/fu RAGBOT_TORCH_THREADS=2 .venv/bin/python benchmarks/follow_up_retrieval.py

The knowledge base is ingested from examples/handbook into RAGBOT_DATA_DIR when it is empty.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.factory import build_pipeline  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.stages.retrieve import searchable  # noqa: E402
from bot.turn import Exchange, RequestContext  # noqa: E402
from retrieval.factory import build_ingestor, build_relevance_scorer, build_retriever, knowledge_base_size  # noqa: E402
from retrieval.relevance import content_words  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "handbook_follow_ups.json"


def main() -> None:
    settings = load_settings()
    if knowledge_base_size(settings) == 0:
        build_ingestor(settings).ingest([ROOT / "examples" / "handbook"])
    pipeline, retriever, scorer = build_pipeline(settings), build_retriever(settings), build_relevance_scorer(settings)
    threads = json.loads(DATA.read_text())["threads"]
    ways = ["follow-up alone", "last question + last reply (session 12)", "last two questions (session 13)", "last two questions + last answer"]
    found = {way: 0 for way in ways}
    passed = {way: 0 for way in ways}
    rows = []
    for thread in threads:
        *earlier, follow_up = thread["turns"]
        replies, answered = [], []
        for i, question in enumerate(earlier):
            answer = pipeline.run(question, RequestContext(history=[Exchange(q) for q in earlier[:i]]))
            replies.append(answer.text)
            answered.append(answer.text if answer.outcome.value == "answered" else "")
        texts = {
            ways[0]: follow_up,
            ways[1]: "\n".join([earlier[-1], replies[-1], follow_up]),
            ways[2]: "\n".join([*earlier[-2:], follow_up]),
            ways[3]: "\n".join([*earlier[-2:], *([answered[-1]] if answered[-1] else []), follow_up]),
        }
        marks = []
        for way in ways:
            text = searchable(texts[way])
            hits = retriever.search(text, k=settings.candidates, alpha=settings.alpha)
            top = hits[0].chunk if hits else None
            hit = top is not None and thread["section"].lower() in f"{top.section} {top.location}".lower()
            # up to session 12 the gate scored the follow-up's own words; since, a follow-up with none is scored on the thread's
            own = searchable(follow_up)
            gate_text = own if way in ways[:2] or content_words(own) else text
            ok = bool(hits) and scorer.relevance(gate_text, hits) >= settings.min_relevance
            found[way] += hit
            passed[way] += ok
            marks.append(("found" if hit else "missed") + (", passes" if ok else ", gated"))
        rows.append((" → ".join(thread["turns"]), thread["section"], marks))
    n = len(threads)
    print(f"{n} threads over examples/handbook (min_relevance {settings.min_relevance})\n")
    print("| search text | right section first | passes the gate | both |")
    print("|---|---|---|---|")
    for i, way in enumerate(ways):
        both = sum(1 for _, _, marks in rows if marks[i] == "found, passes")
        print(f"| {way} | {found[way]}/{n} ({found[way] / n:.2f}) | {passed[way]}/{n} ({passed[way] / n:.2f}) | {both}/{n} ({both / n:.2f}) |")
    print("\n| thread | answer in | " + " | ".join(ways) + " |")
    print("|---|---|" + "---|" * len(ways))
    for turns, section, marks in rows:
        print(f"| {turns} | {section} | " + " | ".join(marks) + " |")


if __name__ == "__main__":
    main()
