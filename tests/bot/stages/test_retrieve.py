"""The retrieve stage numbers passages and says where each source can be opened."""

from __future__ import annotations

from bot.stages.relevance_gate import RelevanceGateStage
from bot.stages.retrieve import RetrieveStage, select_passages
from bot.turn import Turn
from retrieval.types import Chunk, Hit


def _hit(parent: str, location: str) -> Hit:
    chunk = Chunk(chunk_id=f"{parent}-0", doc_id=location, title="Handbook", location=location, text=parent,
                  parent_id=parent, parent_text=f"all about {parent}", section=f"Handbook > {parent}")
    return Hit(chunk=chunk, score=1.0, cosine=0.8)


def test_sources_get_the_configured_link_and_one_passage_per_parent(make_settings):
    settings = make_settings(top_k=3, source_links={"/srv/kb": "https://wiki.example.com/kb"})
    hits = [_hit("vpn", "/srv/kb/it.md"), _hit("vpn", "/srv/kb/it.md"), _hit("leave", "/home/me/leave.md")]
    passages, sources = select_passages(hits, settings)
    assert [p.text for p in passages] == ["all about vpn", "all about leave"]
    assert [s.url for s in sources] == ["https://wiki.example.com/kb/it.md", ""]
    assert [s.heading for s in sources] == ["Handbook › vpn", "Handbook › leave"]


def test_redaction_placeholders_are_not_searched_or_scored(make_settings):
    """No document holds "[CREDIT_CARD]": searched, it sank a card question under the gate."""
    asked = []

    class Recorder:
        def search(self, query, *, k, alpha):
            asked.append(query)
            return [_hit("travel", "/kb/expenses.md")]

        def relevance(self, query, hits):
            asked.append(query)
            return 0.9

    turn = Turn(question="card", settings=make_settings(), query="My card [CREDIT_CARD] was declined. What is the hotel limit?")
    RetrieveStage(Recorder()).run(turn)
    RelevanceGateStage(Recorder()).run(turn)
    assert asked == ["My card was declined. What is the hotel limit?"] * 2
    assert not turn.stopped
    asked.clear()
    turn = Turn(question="wip", settings=make_settings(), query="What does [WIP] mean, [PERSON] asked?")  # words a user typed stay
    RetrieveStage(Recorder()).run(turn)
    assert asked == ["What does [WIP] mean, asked?"]
