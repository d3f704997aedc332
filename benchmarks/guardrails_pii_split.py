"""PII figures on the two halves of a presidio-research file (even- and odd-indexed texts).

    .venv/bin/python benchmarks/guardrails_pii_split.py [--pii ../shared/data/pii-synth-dev.json]

Name and address heuristics were tuned while reading the even-indexed texts only, so the
odd half is the held-out figure; the whole file is printed too. Same scoring as
``ragbot eval guardrails`` (``guardrails.evaluation.eval_pii``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guardrails.evaluation import EvalDataError, eval_pii, load_pii  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pii", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "pii-synth-dev.json")
    parser.add_argument("--examples", type=int, default=0, help="print this many PERSON/LOCATION misses and false positives per half")
    args = parser.parse_args()
    try:
        rows = load_pii(args.pii)
    except EvalDataError as error:
        sys.exit(f"skipped: {error}")
    raw = json.loads(args.pii.read_text(encoding="utf-8"))
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, part in (("even (tuning)", raw[0::2]), ("odd (held out)", raw[1::2]), ("whole file", raw)):
            path = Path(tmp) / "part.json"
            path.write_text(json.dumps(part), encoding="utf-8")
            figures, details = eval_pii(path)
            report[name] = figures
            if args.examples and name != "whole file":
                for kind in ("misses", "false_positives"):
                    shown = [d for d in details[kind] if d[0] in ("PERSON", "LOCATION")][: args.examples]
                    for etype, value, text in shown:
                        print(f"{name} {kind} {etype}: {value!r}  <- {text[:160]!r}", file=sys.stderr)
    print(json.dumps({"texts": len(rows), **report}, indent=2))


if __name__ == "__main__":
    main()
