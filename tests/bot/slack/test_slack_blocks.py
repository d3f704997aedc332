"""Block Kit rendering within Slack's limits: 3,000 characters a section, 50 blocks a message."""

from __future__ import annotations

import json

from bot.answer import Answer, Outcome, Source
from bot.slack import blocks as bk


def _answer(text: str, n_sources: int = 2, outcome: Outcome = Outcome.ANSWERED, confidence: float = 0.8) -> Answer:
    sources = [Source(n=i, title=f"Doc {i}", location=f"https://wiki.example.com/{i}" if i % 2 else f"docs/{i}.md", score=0.5) for i in range(1, n_sources + 1)]
    return Answer(text=text, outcome=outcome, confidence=confidence, sources=sources, request_id="req1")


def _section_texts(blocks):
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_long_answers_are_split_into_sections_and_messages_within_limits():
    paragraph = ("The VPN client needs a restart after updates. " * 20).strip()
    text = "\n\n".join([paragraph] * 250)  # ~230k characters: more than 50 sections
    blocks = bk.answer_blocks(_answer(text), escalated=False, held=False)
    assert all(len(t) <= bk.SECTION_LIMIT for t in _section_texts(blocks))
    payloads = bk.messages(blocks, text, channel="C1", thread_ts="1.1")
    assert len(payloads) > 1 and all(len(p["blocks"]) <= bk.BLOCK_LIMIT for p in payloads)
    assert [b for p in payloads for b in p["blocks"]] == blocks  # nothing dropped, order kept
    assert payloads[-1]["blocks"][-1]["type"] == "actions"  # buttons come last
    assert all(len(p["text"]) <= bk.NOTIFY_TEXT_LIMIT + 10 for p in payloads)
    rejoined = " ".join(t for t in _section_texts(blocks) if not t.startswith("*Sources*"))
    assert rejoined.split() == bk.to_mrkdwn(text).split()  # splitting loses no words


def test_split_text_cuts_at_boundaries_and_hard_cuts_unbroken_text():
    assert bk.split_text("a" * 7000) == ["a" * 3000, "a" * 3000, "a" * 1000]
    pieces = bk.split_text(("word " * 1000).strip(), limit=100)
    assert all(len(p) <= 100 for p in pieces) and all(not p.startswith(" ") for p in pieces)
    assert " ".join(pieces).split() == ["word"] * 1000


def test_sources_are_numbered_links_and_confidence_is_in_words():
    blocks = bk.answer_blocks(_answer("See [1] and **this**.", confidence=0.55), escalated=False, held=False)
    texts = "\n".join(_section_texts(blocks))
    assert "1. <https://wiki.example.com/1|Doc 1>" in texts and "2. *Doc 2* (docs/2.md)" in texts
    assert "*this*" in texts and "**" not in texts
    context = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    assert any("Confidence: medium (0.55)" in c for c in context)
    assert [bk.confidence_words(c) for c in (0.9, 0.6, 0.3, 0.1)] == ["high", "medium", "low", "very low"]


def test_slack_control_characters_are_escaped():
    blocks = bk.answer_blocks(_answer("Use <script> & <!channel>"), escalated=False, held=False)
    text = _section_texts(blocks)[0]
    assert "&lt;script&gt; &amp; &lt;!channel&gt;" in text and "<!channel>" not in text


def test_an_answer_that_passed_the_format_check_is_not_escaped_twice(make_settings):
    from guardrails.base import CheckContext
    from guardrails.format.slack import FormatValidator

    draft = "R&D approves it [1]. See [the portal](https://x.example/a?b=1&c=2) when x < 5."
    checked = FormatValidator().validate(draft, CheckContext(settings=make_settings(), n_sources=2)).fixed
    text = _section_texts(bk.answer_blocks(_answer(checked), escalated=False, held=False))[0]
    assert "R&amp;D" in text and "x &lt; 5" in text and "&amp;amp;" not in text and "&amp;lt;" not in text
    assert "the portal (<https://x.example/a?b=1&amp;c=2>)" in text


def test_a_link_in_an_answer_shows_where_it_goes():
    """A document's "[Employee Handbook](https://evil.example/login)" read as a link labelled
    "Employee Handbook"; the address is shown now."""
    text = bk.to_mrkdwn("Use the [Employee Handbook](https://evil.example/login) [1]. Or [https://wiki.example/vpn](https://wiki.example/vpn).")
    assert "|" not in text
    assert "Employee Handbook (<https://evil.example/login>)" in text and "Or <https://wiki.example/vpn>." in text


def test_fallbacks_offer_only_ask_a_human_and_held_drafts_are_not_shown():
    fallback = bk.answer_blocks(_answer("I couldn't find this.", outcome=Outcome.FALLBACK, confidence=0.0), escalated=True, held=False)
    assert [e["action_id"] for e in fallback[-1]["elements"]] == [bk.ACTION_ASK_HUMAN]
    held = bk.answer_blocks(_answer("A risky draft"), escalated=True, held=True)
    assert "risky" not in str(held) and bk.HELD_TEXT in str(held)


def test_sources_name_their_section_and_use_the_configured_link():
    """Two passages of one document rendered identically, and file paths could not be opened."""
    answer = Answer(text="See [1] and [2].", outcome=Outcome.ANSWERED, confidence=0.8, request_id="r", sources=[
        Source(n=1, title="Onboarding", location="/srv/kb/onboarding.md", score=0.9, section="Onboarding > Laptop > Ordering",
               url="https://git.example.com/kb/onboarding.md"),
        Source(n=2, title="Onboarding", location="/srv/kb/onboarding.md", score=0.8, section="Onboarding > Accounts"),
    ])
    texts = "\n".join(_section_texts(bk.answer_blocks(answer, escalated=False, held=False)))
    assert "1. <https://git.example.com/kb/onboarding.md|Onboarding › Laptop › Ordering>" in texts
    assert "2. *Onboarding › Accounts* (kb/onboarding.md)" in texts  # not where the server keeps its files
    escalation_view = "\n".join(_section_texts(bk.source_blocks(answer.sources, with_scores=True)))
    assert "(/srv/kb/onboarding.md) · score 0.80" in escalation_view  # the humans helping may need the full path


def test_a_name_removed_on_request_reads_someone_not_none():
    from types import SimpleNamespace

    esc = SimpleNamespace(id=3, status="resolved", answered_by=None, claimed_by=None, asker_id="", channel_id="C1", thread_ts="1.1",
                          question="q", reason="r", confidence=0.4, request_id="req", draft="", draft_sent=False, sources=[], human_answer="hi")
    shown = json.dumps(bk.escalation_blocks(esc)) + json.dumps(bk.human_answer_blocks(esc))
    assert "None" not in shown and "Answered by someone" in shown and "someone (a human) answered" in shown


def test_a_hard_cut_never_splits_an_entity_or_a_link():
    text = ("R&D " + "x&y" * 999)[:3000]
    for piece in bk.split_text(bk.escape(text), limit=1000):
        assert not piece.endswith(("&", "&a", "&am", "&amp")) and not piece.startswith(("amp;", "mp;", "p;", ";"))
    link = "y" * 990 + "<https://wiki.example.com/a-long-page|page>" + "z" * 30
    pieces = bk.split_text(link, limit=1000)
    assert pieces[1].startswith("<https://") and "".join(pieces) == link


def test_an_escalated_fallback_does_not_also_ask_the_asker_to_press_the_button():
    """It said "You can ask a human with the button below" and "I've also asked a human" at once."""
    from bot.settings import FALLBACK_TEXT

    blocks = bk.answer_blocks(_answer(FALLBACK_TEXT, outcome=Outcome.FALLBACK, confidence=0.0), escalated=True, held=False)
    shown = " ".join(_section_texts(blocks)) + json.dumps(blocks)
    assert "button below" not in shown and "also asked a human" in shown
    alone = bk.answer_blocks(_answer(FALLBACK_TEXT, outcome=Outcome.FALLBACK, confidence=0.0), escalated=False, held=False)
    assert "button below" in " ".join(_section_texts(alone))
