"""`finetune export`: helpful answers and human answers from the bot database become records."""

from adapters.base import Passage
from adapters.finetune.export import export_records
from bot.answer import Source
from bot.state.db import Database
from bot.state.models import Escalation, Feedback, QuestionRecord


def fetcher(doc_ids):
    """Retrieval stand-in: the same passages for every question, numbered in ``doc_ids`` order."""
    def fetch(question):
        passages = [Passage(n, f"T{d}", f"text of {d}") for n, d in enumerate(doc_ids, start=1)]
        sources = [Source(n=n, title=f"T{d}", location=f"loc/{d}", score=0.9, doc_id=d) for n, d in enumerate(doc_ids, start=1)]
        return passages, sources
    return fetch


def fill(db):
    with db.transaction() as s:
        for rid, outcome, answer, cited in [("r1", "answered", "VPN via GlobalProtect [1].", "vpn"),
                                            ("r2", "answered", "Wrong thing [1].", "vpn"),
                                            ("r3", "answered", "Leave is 25 days [1].", "gone"),
                                            ("r4", "fallback", "I couldn't find this", "vpn")]:
            s.add(QuestionRecord(request_id=rid, question=f"question {rid}?", outcome=outcome, answer_text=answer,
                                 sources=[{"n": 1, "title": "x", "location": f"loc/{cited}", "score": 0.9, "doc_id": cited}]))
        s.add_all([Feedback(request_id="r1", user_hash="u1", helpful=True), Feedback(request_id="r1", user_hash="u2", helpful=True),
                   Feedback(request_id="r1", user_hash="u3", helpful=False),
                   Feedback(request_id="r2", user_hash="u1", helpful=False),
                   Feedback(request_id="r3", user_hash="u1", helpful=True),
                   Feedback(request_id="r4", user_hash="u1", helpful=True)])
        common = dict(channel_id="C", thread_ts="1.0", asker_id="U", escalation_channel="E")
        s.add_all([Escalation(request_id="r5", question="How do I expense a taxi?", status="resolved", human_answer="Use the Expenses app.", **common),
                   Escalation(request_id="r6", question="open one?", status="open", **common),
                   Escalation(request_id="r7", question="empty?", status="resolved", human_answer="  ", **common)])


def test_export_takes_mostly_helpful_answers_and_resolved_human_answers(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    fill(db)
    records, report = export_records(db, fetcher(["other", "vpn"]))
    by_request = {r.meta["request_id"]: r for r in records}
    assert set(by_request) == {"r1", "r5"}
    # the citation follows the document to its new number
    assert by_request["r1"].answer == "VPN via GlobalProtect [2]."
    assert "[2] Tvpn\ntext of vpn" in by_request["r1"].messages[1]["content"]
    assert by_request["r5"].answer == "Use the Expenses app." and by_request["r5"].meta["kind"] == "human"
    assert report.helpful == 1 and report.human == 1
    assert report.skipped == {"a cited source is no longer retrieved": 1}
    assert by_request["r1"].meta["doc_ids"] == ["other", "vpn"]


def test_answers_with_personal_data_or_placeholders_are_not_exported(tmp_path):
    """A human answer is stored raw until delivered: it was exported with a colleague's email and
    phone; and "[PERSON] ..." answers taught the adapter to write placeholders."""
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    common = dict(channel_id="C", thread_ts="1.0", asker_id="U", escalation_channel="E", status="resolved")
    with db.transaction() as s:
        s.add(QuestionRecord(request_id="r1", question="Who led the team?", outcome="answered", answer_text="[PERSON] led it [1].",
                             sources=[{"n": 1, "title": "x", "location": "loc/vpn", "score": 0.9, "doc_id": "vpn"}]))
        s.add(Feedback(request_id="r1", user_hash="u1", helpful=True))
        s.add_all([Escalation(request_id="r2", question="Who do I ask?", human_answer="Ask Jane Doe, jane.doe@example.com, 212-555-0199.", **common),
                   Escalation(request_id="r3", question="Where is the form?", human_answer="In the Expenses app.", **common)])
    records, report = export_records(db, fetcher(["vpn"]))
    assert [r.meta["request_id"] for r in records] == ["r3"]
    assert report.skipped == {"the answer holds redacted personal data": 1, "the answer names personal data the passages do not show": 1}
