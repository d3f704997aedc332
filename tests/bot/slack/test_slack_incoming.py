"""Slack's markup is undone before a question is searched, checked or stored."""

import pytest

from bot.slack.incoming import question_text


@pytest.mark.parametrize(
    "sent, meant",
    [
        ("<@U0BOT> How do I expense R&amp;D travel &amp; hotels?", "How do I expense R&D travel & hotels?"),
        ("Is a Mac &gt; 5 years old replaced? &lt;asking for a friend&gt;", "Is a Mac > 5 years old replaced? <asking for a friend>"),
        ("What does <https://wiki.example.com/vpn|the VPN page> say?", "What does the VPN page (https://wiki.example.com/vpn) say?"),
        ("Is <https://wiki.example.com/vpn> current?", "Is https://wiki.example.com/vpn current?"),
        ("Who reads <mailto:it@example.com|it@example.com>?", "Who reads it@example.com?"),
        ("Is <tel:+15550100|555-0100> the help desk?", "Is 555-0100 the help desk?"),
        ("Is <tel:+15550100> the help desk?", "Is +15550100 the help desk?"),
        ("Should I ask in <#C0123ABC|it-help> or <#C0456DEF>?", "Should I ask in #it-help or ?"),
        ("<!here> who owns <!subteam^S0123|oncall>?", "who owns @oncall?"),
        ("<@U0BOT|ragbot> hi <@U0OTHER>", "hi"),
    ],
)
def test_markup_becomes_the_words_a_person_typed(sent, meant):
    assert question_text(sent) == meant


def test_the_question_a_message_asks_is_its_words_or_what_it_forwards():
    from bot.slack.incoming import message_question

    shared = [{"is_share": True, "text": "How do I set up the VPN?"}]
    assert message_question({"text": "", "attachments": shared}) == "How do I set up the VPN?"
    assert message_question({"text": "<@U0BOT> can you answer this?", "attachments": shared}) == "How do I set up the VPN?"
    assert message_question({"text": "<@U0BOT> what about Linux?", "attachments": shared}) == "what about Linux?"  # words of its own
    assert message_question({"text": "", "attachments": [{"fallback": "Alert: disk full on db-1"}]}) == "Alert: disk full on db-1"
    assert message_question({"text": "hi"}) == "hi"


def test_unclosed_markup_is_read_in_linear_time():
    """Raw text (another app's post, an API message) full of unclosed "<http:" took seconds
    before the ack."""
    import time

    began = time.perf_counter()
    for piece in ("<http:", "<#C1|", "<@U1|", "<!subteam^S1|", "<!date^1|"):
        question_text(piece * 7000)
    assert time.perf_counter() - began < 1
