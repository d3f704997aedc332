"""What counts as an acknowledgement of an answer (not a question) in the bot's threads and DMs."""

from __future__ import annotations

import time

import pytest

from bot.slack.message_kinds import ACKNOWLEDGEMENT as _ACKNOWLEDGEMENT


@pytest.mark.parametrize("text", ["thanks!", "great, thanks!", "ok thanks", "perfect, thank you!", "thanks, that helps",
                                  "got it, thanks :+1:", "thank you very much", "Thanks a lot!", "cheers :)", ":pray:", "ok"])
def test_thanks_and_emoji_are_acknowledgements(text):
    assert _ACKNOWLEDGEMENT.match(text)


@pytest.mark.parametrize("text", ["ok, and for contractors?", "thanks! what about London?", "why?", "great question: how long?",
                                  "okta?", "thanksgiving leave?", "", "   "])
def test_anything_more_is_a_question(text):
    assert not _ACKNOWLEDGEMENT.match(text)


def test_a_huge_message_is_read_in_linear_time():
    began = time.perf_counter()
    for text in ("thanks " * 20_000 + "?", ":+1: " * 20_000 + "x", "ok, " * 25_000 + "why"):
        assert not _ACKNOWLEDGEMENT.match(text)
    assert time.perf_counter() - began < 2
