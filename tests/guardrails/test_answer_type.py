import pytest

from guardrails.base import CheckContext, run_validators
from guardrails.grounding.answer_type import AnswerTypeValidator, expected_type, states_type

STEPS = (
    "1. Open the self-service portal at `https://vpn.kestrel.example/profile` [1].\n"
    "2. Sign in with your single sign-on account and approve the push notification [1].\n"
    "3. Download the generated `.conf` file and import it into the WireGuard app [1]."
)


@pytest.mark.parametrize(
    "question, kind",
    [
        ("How long is a VPN profile valid?", "amount"),
        ("How many days of annual leave do I get?", "amount"),
        ("how quickly must I acknowledge a page?", "amount"),
        ("What percentage of staff work remotely?", "amount"),
        ("When did the Normans conquer England?", "time"),
        ("In which year was the office opened?", "time"),
        ("What time does the service desk open?", "time"),
        ("What happens when my laptop is stolen?", None),  # 'when' not at the start: not a time question
        ("When my laptop is stolen, who do I call?", None),  # a 'when' clause before the real question
        ("When extensive time is required, this represents what case?", None),
        ("How do I get a VPN profile?", None),
        ("Who approves expenses?", None),
        ("What time zone is the office in?", None),
    ],
)
def test_question_forms(question, kind):
    assert expected_type(question) == kind


@pytest.mark.parametrize(
    "answer, states",
    [
        ("Each profile is valid for 90 days [1].", True),
        ("Three years [1].", True),
        ("Report it within twenty-four hours [1].", True),
        ("After the war [1].", True),
        ("In May [1].", True),
        ("Weekly [1].", True),
        ("A single output [1].", True),
        ("Following the Nice Treaty [1].", True),
        (STEPS, False),  # list numbers, links and citations are not figures
        ("Through the self-service portal [1].", False),
        ("You may ask the service desk [1].", False),  # the verb, not the month
        ("Set `max_retries: 3` in client.yaml [1].", True),  # a value in code is an answer's figure
        ("2019. It replaced the old travel rules [1].", True),  # a year, not a list number
        ("See <https://wiki.example.com/vpn/2024|the VPN page> [1].", False),
    ],
)
def test_what_counts_as_stating_an_amount_or_time(answer, states):
    assert states_type(answer) is states


def _check(question, answer, settings, **overrides):
    s = settings.with_overrides(overrides) if overrides else settings
    ctx = CheckContext(settings=s, question=question, source_texts=["irrelevant"], n_sources=1)
    return run_validators(answer, [AnswerTypeValidator()], ctx)


def test_steps_answering_a_how_long_question_are_withheld(settings):
    result = _check("How long is a VPN profile valid?", STEPS, settings)
    verdict = result.verdicts[0]
    assert not verdict.passed and result.stop == "refrain"
    assert "asks for an amount" in result.message


def test_fix_has_nothing_to_repair_with_so_it_refrains_and_escalate_escalates(settings):
    assert _check("When was it founded?", "By the board [1].", settings, answer_type_action="fix").stop == "refrain"
    result = _check("When was it founded?", "By the board [1].", settings, answer_type_action="escalate")
    assert result.stop is None and result.escalate and "asks for a time" in result.message


def test_other_questions_and_fitting_answers_pass(settings):
    assert _check("How do I get a VPN profile?", STEPS, settings).verdicts[0].passed
    assert _check("How long is a VPN profile valid?", "90 days [1].", settings).verdicts[0].passed
