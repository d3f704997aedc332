"""Training records from the bot's own history (`ragbot finetune export`).

The query, in plain words:

* **helpful answers**: questions answered by the bot (``outcome = answered``) whose
  feedback votes are mostly "Helpful" (more helpful than not-helpful votes);
* **human answers**: escalations marked resolved with a non-empty ``human_answer``.

The database keeps the question, the reply and its sources, not the passage texts, so the
passages are fetched again by retrieval over the current knowledge base (the same stage
the pipeline uses). A helpful answer's ``[n]`` citations are renumbered to the new
passages; when a cited document is no longer retrieved, the record is skipped (and
counted) rather than taught with a citation that points nowhere. An answer with personal
data the passages do not show (a human's reply naming a colleague's address) or with the
output guard's ``[PERSON]`` placeholders is skipped and counted too: the export is a file
that travels, and the adapter must not learn to write placeholders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import case, func, select

from adapters.base import Passage
from adapters.finetune.records import Record
from adapters.prompt import build_messages
from bot.answer import Source
from guardrails.pii.engine import REDACTION_PLACEHOLDER
from guardrails.pii.validators import unsourced_pii

_CITATION = re.compile(r"\[(\d+)\]")

# question text -> (passages as shown to the model, their sources with doc ids)
FetchPassages = Callable[[str], tuple[list[Passage], list[Source]]]


@dataclass
class ExportReport:
    helpful: int = 0
    human: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


@dataclass
class Candidate:
    kind: str  # helpful | human
    request_id: str
    question: str
    answer: str
    sources: list[dict]


def candidates(db) -> list[Candidate]:
    """The helpful answers and resolved human answers in the bot's database."""
    from bot.state.models import Escalation, Feedback, QuestionRecord

    votes = (
        select(Feedback.request_id, func.sum(case((Feedback.helpful.is_(True), 1), else_=0)).label("up"), func.count().label("all"))
        .group_by(Feedback.request_id)
        .subquery()
    )
    found: list[Candidate] = []
    with db.transaction() as session:
        rows = session.execute(
            select(QuestionRecord).join(votes, votes.c.request_id == QuestionRecord.request_id)
            .where(QuestionRecord.outcome == "answered", votes.c.up * 2 > votes.c["all"])
            .order_by(QuestionRecord.created_at)
        ).scalars()
        for row in rows:
            found.append(Candidate("helpful", row.request_id, row.question, row.answer_text, list(row.sources or [])))
        escalations = session.execute(
            select(Escalation).where(Escalation.status == "resolved", Escalation.human_answer.is_not(None)).order_by(Escalation.created_at)
        ).scalars()
        for row in escalations:
            if (row.human_answer or "").strip():
                found.append(Candidate("human", row.request_id, row.question, row.human_answer.strip(), list(row.sources or [])))
    return found


def to_record(candidate: Candidate, fetch: FetchPassages, report: ExportReport) -> Record | None:
    if not candidate.question.strip() or not candidate.answer.strip():
        report.skip("empty question or answer")
        return None
    passages, sources = fetch(candidate.question)
    if not passages:
        report.skip("nothing retrieved for the question any more")
        return None
    answer = candidate.answer
    if candidate.kind == "helpful":
        old = {int(s.get("n", 0)): s.get("doc_id") or s.get("location") for s in candidate.sources}
        new = {(s.doc_id or s.location): s.n for s in sources}
        mapping: dict[int, int] = {}
        for n in {int(x) for x in _CITATION.findall(answer)}:
            key = old.get(n)
            if key not in new:
                report.skip("a cited source is no longer retrieved")
                return None
            mapping[n] = new[key]
        answer = _CITATION.sub(lambda m: f"[{mapping[int(m.group(1))]}]", answer)
    if REDACTION_PLACEHOLDER.search(answer):  # "[PERSON] was ..." would teach the adapter to write placeholders
        report.skip("the answer holds redacted personal data")
        return None
    if unsourced_pii(answer, [p.text for p in passages]):  # a human's answer is kept raw until delivered
        report.skip("the answer names personal data the passages do not show")
        return None
    messages = build_messages(candidate.question, passages) + [{"role": "assistant", "content": answer}]
    doc_ids = [s.doc_id or s.location for s in sources]
    if candidate.kind == "helpful":
        report.helpful += 1
    else:
        report.human += 1
    return Record(messages, {"doc_ids": doc_ids, "kind": candidate.kind, "source": "ragbot-db", "request_id": candidate.request_id})


def export_records(db, fetch: FetchPassages) -> tuple[list[Record], ExportReport]:
    report = ExportReport()
    records = [r for c in candidates(db) if (r := to_record(c, fetch, report)) is not None]
    return records, report


def pipeline_fetcher(settings) -> FetchPassages:
    """Passages as the pipeline's retrieve stage would give them today."""
    from bot.stages.retrieve import RetrieveStage
    from bot.turn import Turn
    from retrieval.factory import build_retriever

    stage = RetrieveStage(build_retriever(settings))

    def fetch(question: str):
        turn = Turn(question=question, settings=settings)
        turn.query = question
        stage.run(turn)
        return turn.passages, turn.sources

    return fetch
