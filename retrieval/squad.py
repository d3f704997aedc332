"""One reader for SQuAD 2.0 files, shared by ingest, the evaluations and training-data building.

It checks the structure as it goes, so a malformed file is one clear error that names the
article, paragraph or question, never a KeyError from deep inside a command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


class SquadFormatError(ValueError):
    """The file is not readable SQuAD 2.0 JSON; the message names the file and the place."""


class NotSquad(SquadFormatError):
    """Readable JSON of another shape (a JSON file in a docs folder that is not SQuAD at all)."""


@dataclass
class SquadQuestion:
    id: str
    question: str
    answers: list[str]
    impossible: bool


@dataclass
class SquadParagraph:
    title: str  # as in the file (underscores kept): document ids are ``<title>#<index>``
    index: int  # the paragraph's place in its article
    article: int  # the article's place in the file
    context: str
    questions: list[SquadQuestion] = field(default_factory=list)

    @property
    def doc_id(self) -> str:
        return f"{self.title}#{self.index}"


def read_squad(path: Path, unique_titles: bool = False) -> list[SquadParagraph]:
    """Every paragraph of a SQuAD 2.0 file with its questions, in file order. ``unique_titles``:
    refuse two articles of one title (evaluations: their '<title>#<n>' ids would collide and one
    paragraph hide the other; ingest instead stores the first and reports the second)."""
    name = Path(path).name
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8-sig"))
    except OSError as error:
        raise SquadFormatError(f"{name}: cannot read ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise SquadFormatError(f"{name}: not valid UTF-8 ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise SquadFormatError(f"{name}: invalid JSON (line {error.lineno}: {error.msg})") from None
    except RecursionError:
        raise SquadFormatError(f"{name}: JSON nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise NotSquad(f"{name}: JSON files are read only in SQuAD 2.0 format (a top-level 'data' list of articles)")
    paragraphs = []
    first_seen: dict[str, int] = {}
    for a_index, article in enumerate(data["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs", []), list):
            raise SquadFormatError(f"{name}: article {a_index} is not a SQuAD article (an object with a 'paragraphs' list)")
        title = str(article.get("title", ""))
        if unique_titles and title in first_seen and article.get("paragraphs"):  # ids '<title>#<n>' would collide: one paragraph would hide the other
            raise SquadFormatError(f"{name}: articles {first_seen[title]} and {a_index} have the same title {title!r}; paragraph ids "
                                   f"('{title}#0', ...) must be unique: rename one, or merge their paragraphs into one article")
        first_seen.setdefault(title, a_index)
        for index, paragraph in enumerate(article.get("paragraphs", [])):
            where = f"{name}: article {title or a_index!r}, paragraph {index}"
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            if not isinstance(context, str):
                raise SquadFormatError(f"{where}: 'context' is not text")
            qas = paragraph.get("qas", [])
            if not isinstance(qas, list):
                raise SquadFormatError(f"{where}: 'qas' is not a list")
            paragraphs.append(SquadParagraph(title, index, a_index, context, [_question(qa, f"{where}, question {n}", f"{title}#{index}#{n}")
                                                                    for n, qa in enumerate(qas)]))
    return paragraphs


def _question(qa: object, where: str, default_id: str) -> SquadQuestion:
    if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
        raise SquadFormatError(f"{where}: no 'question' text")
    answers = qa.get("answers", [])
    if not isinstance(answers, list):
        raise SquadFormatError(f"{where}: 'answers' is not a list")
    texts = [str(a.get("text", "")) for a in answers if isinstance(a, dict) and str(a.get("text", "")).strip()]
    return SquadQuestion(str(qa.get("id", default_id)), qa["question"].strip(), texts, bool(qa.get("is_impossible")) or not texts)
