"""The whole output chain with the real models: what a careless draft becomes."""

import pytest

from guardrails.base import CheckContext, run_validators
from guardrails.output import output_validators

pytestmark = pytest.mark.slow

SOURCE = "## Annual leave\n\nFull-time employees get **28 days of paid annual leave** per calendar year. Part-time staff get a pro-rata share."
QUESTION = "How many days of annual leave do full-time employees get?"


def _run(draft, settings, n_sources=1):
    ctx = CheckContext(settings=settings, question=QUESTION, source_texts=[SOURCE], n_sources=n_sources)
    return run_validators(draft, output_validators(settings), ctx)


def test_planted_pii_is_removed_and_the_supported_answer_survives(settings):
    draft = (
        "Full-time employees get 28 days of paid annual leave [1]. Contact Jane Doe at jane.doe@example.com "
        "or 212-555-0199, card 4111 1111 1111 1111, SSN 078-05-1120."
    )
    result = _run(draft, settings)
    assert result.stop is None, result.message
    for value in ("Jane Doe", "jane.doe@example.com", "212-555-0199", "4111 1111 1111 1111", "078-05-1120"):
        assert value not in result.text
    assert "28 days" in result.text and "[1]" in result.text


def test_uncited_looping_draft_is_cited_deduplicated_and_mention_free(settings):
    draft = "Full-time employees get 28 days of paid annual leave.\n\nFull-time employees get 28 days of paid annual leave. [4] <!channel>"
    result = _run(draft, settings)
    assert result.stop is None
    assert result.text.count("28 days") == 1
    assert "[1]" in result.text and "[4]" not in result.text and "<!channel>" not in result.text


def test_supported_steps_that_do_not_say_how_long_are_withheld(settings):
    """The README's first question: every sentence is in the source, none says how long."""
    source = ("## Getting a VPN profile\n\n1. Open the self-service portal.\n2. Sign in with your single sign-on account.\n"
              "3. Download the generated file and import it into the WireGuard app.\n\nEach profile is valid for **90 days**.")
    draft = ("1. Open the self-service portal [1].\n2. Sign in with your single sign-on account [1].\n"
             "3. Download the generated file and import it into the WireGuard app [1].")
    ctx = CheckContext(settings=settings, question="How long is a VPN profile valid?", source_texts=[source], n_sources=1)
    result = run_validators(draft, output_validators(settings), ctx)
    verdicts = {v.validator: v for v in result.verdicts}
    assert verdicts["groundedness"].passed and not verdicts["answer_type"].passed
    assert result.stop == "refrain"
    ctx.question = "How do I get a VPN profile?"
    assert run_validators(draft, output_validators(settings), ctx).stop is None


def test_an_invented_value_that_looks_like_personal_data_is_refused_not_redacted_and_sent(settings):
    """The PII check used to run first: "1234567890" became "[PHONE_NUMBER]", which the grounding
    check could not call invented, and "the password is [PHONE_NUMBER] [1]" was sent."""
    source = "## Berlin office\n\nGuests use the ragbot-guest network; reception hands out the password."
    ctx = CheckContext(settings=settings, question="What is the Wi-Fi password in the Berlin office?", source_texts=[source], n_sources=1)
    result = run_validators("The Wi-Fi password in the Berlin office is: 1234567890 [1].", output_validators(settings), ctx)
    assert result.stop == "refrain"  # the fallback is sent instead


def test_a_citation_to_a_passage_that_was_not_given_is_replaced_not_just_deleted(settings):
    result = _run("Full-time employees get 28 days of paid annual leave [2].", settings)
    assert result.stop is None and result.text.count("[1]") == 1 and "[2]" not in result.text


def test_a_draft_withheld_before_the_pii_check_ran_is_redacted_for_reviewers(settings):
    from adapters.base import Passage
    from bot.stages.guard import OutputGuardStage
    from bot.turn import Turn

    turn = Turn(question=QUESTION, settings=settings.with_overrides({"groundedness_action": "refrain"}), query=QUESTION,
                passages=[Passage(n=1, title="Leave", text=SOURCE)], draft="Call Jane Doe at 212-555-0199 about the yacht budget.")
    turn.confidence = 0.9
    OutputGuardStage(output_validators(settings)).run(turn)
    assert turn.stopped  # refrained by the grounding check, before the PII check's turn
    assert "Jane Doe" not in turn.draft and "212-555-0199" not in turn.draft
