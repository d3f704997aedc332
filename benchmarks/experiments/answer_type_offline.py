"""What the answer_type check does to an `eval answers` run, and how many gold answers it would withhold.

Usage: .venv/bin/python benchmarks/experiments/answer_type_offline.py REPORT_DIR/answers.jsonl
REPORT_DIR comes from a run with the check off (answer_type_action cannot be "off", so run it
from a checkout before the check, or read the replies it let through): the check only reads
the final reply and the question, so applying it afterwards gives what the pipeline would.
"""
import collections
import json
import os
import sys

from _paths import DATA  # also puts the repository on sys.path
from guardrails.grounding.answer_type import expected_type, states_type

rows = [json.loads(line) for line in open(sys.argv[1])]
effect = collections.Counter()
for row in rows:
    if row["verdict"] == "abstained" or not expected_type(row["question"]):
        continue
    effect[(row["category"], row["verdict"], "kept" if states_type(row["text"]) else "withheld")] += 1
per_category = collections.Counter(r["category"] for r in rows)
print("questions per category:", dict(per_category))
for key, count in sorted(effect.items()):
    print(*key, count)

typed = withheld = 0
for article in json.load(open(os.path.join(DATA, "squad2-kb-dev.json")))["data"]:
    for paragraph in article["paragraphs"]:
        for qa in paragraph["qas"]:
            if qa.get("is_impossible") or not qa["answers"] or not expected_type(qa["question"]):
                continue
            typed += 1
            withheld += not states_type(qa["answers"][0]["text"] + " [1].")
print(f"dev file: {typed} answerable questions ask for an amount or time; {withheld} of their gold answers would be withheld")
