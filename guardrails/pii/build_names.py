"""Build the compact name lists the name gazetteer ships (``guardrails/pii/data/*.txt.gz``).

    pip install --target /tmp/nd names-dataset pycountry   # build time only: 56 MB, 3 GB RAM to load
    apt-get install wamerican                              # /usr/share/dict/american-english
    PYTHONPATH=/tmp/nd .venv/bin/python -m guardrails.pii.build_names  # ~1 minute

Why a compact list: names-dataset (MIT licence, Philippe Remy; first and last names with their
popularity rank in 106 countries) takes ~30 s and 3 GB to load, far too much for a guardrail.
We keep the names that rank in the top ``FIRST_RANK``/``LAST_RANK`` of at least one country,
in Latin, Greek or Cyrillic script, and mark those that are also ordinary lower-case English
words (the wamerican word list, public domain) so the recognizer can ask for more evidence.
Each output line is ``name<TAB>best rank<TAB>1 if an English word``; ``english_words.txt.gz``
holds the lower-case English words themselves (3+ letters).
"""

from __future__ import annotations

import gzip
import pickle
import re
from pathlib import Path

FIRST_RANK = 1500
LAST_RANK = 3000
OUT = Path(__file__).resolve().parent / "data"
WORDS = Path("/usr/share/dict/american-english")
_LETTERS = re.compile(r"^[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*$")


def _load(name: str) -> dict:
    import names_dataset

    path = Path(names_dataset.__file__).parent / "v3" / f"{name}.pkl.gz"
    with gzip.open(path, "rb") as f:
        return pickle.load(f)


def _english_words() -> set[str]:
    return {w.strip() for w in WORDS.read_text(encoding="utf-8").splitlines() if w.strip().islower()}


def _write(kind: str, limit: int, english: set[str]) -> int:
    table = _load(f"{kind}_names")
    rows = []
    for name, info in table.items():
        ranks = info.get("rank") or {}
        if not ranks or len(name) < 2 or not _LETTERS.match(name):
            continue
        best = min(ranks.values())
        if best <= limit:
            rows.append(f"{name}\t{best}\t{int(name.lower() in english)}")
    del table
    rows.sort()
    with gzip.open(OUT / f"{kind}_names.txt.gz", "wt", encoding="utf-8", compresslevel=9) as f:
        f.write("\n".join(rows) + "\n")
    return len(rows)


def main() -> None:
    english = _english_words()
    OUT.mkdir(exist_ok=True)
    print("first names:", _write("first", FIRST_RANK, english))
    print("last names:", _write("last", LAST_RANK, english))
    words = sorted(w for w in english if len(w) >= 3 and w.isalpha())
    with gzip.open(OUT / "english_words.txt.gz", "wt", encoding="utf-8", compresslevel=9) as f:
        f.write("\n".join(words) + "\n")
    print("english words:", len(words))


if __name__ == "__main__":
    main()
