import pytest

from guardrails.base import CheckContext, run_validators
from guardrails.normalize import NormalizeValidator, QuestionShapeValidator, normalize_text


def check(text, settings):
    validators = [QuestionShapeValidator(), NormalizeValidator()]
    return run_validators(text, validators, CheckContext(settings=settings, question=text))


def test_normalize_folds_width_zero_width_controls_and_whitespace():
    assert normalize_text("ｈｅｌｌｏ\u200b  wor\u200dld\x07\t \n\n\n ok ") == "hello world\n\nok"


def test_normalize_is_idempotent():
    once = normalize_text("Ａ\u00a0b\r\nc\u2028d")
    assert normalize_text(once) == once


def test_clean_question_passes_unchanged(settings):
    result = check("How do I connect to the VPN?", settings)
    assert result.stop is None and result.text == "How do I connect to the VPN?"
    assert [v.action for v in result.verdicts] == ["none", "none"]


def test_messy_question_is_fixed(settings):
    result = check("  How do I\u200b connect   to the VPN?\x01 ", settings)
    assert result.stop is None
    assert result.text == "How do I connect to the VPN?"
    assert result.verdicts[-1].action == "fix"


def test_empty_and_whitespace_only_are_blocked_with_a_message(settings):
    for text in ["", "   ", "\u200b\u200b"]:
        result = check(text, settings)
        assert result.stop == "block", text
        assert "empty" in result.message


def test_emoji_or_punctuation_only_is_asked_for_words_not_called_empty(settings):
    for text in ["?!", "\U0001f600\U0001f600\U0001f600", "\U0001f914 ?"]:
        result = check(text, settings)
        assert result.stop == "block", text
        assert "in words" in result.message and "empty" not in result.message


def test_over_long_question_is_blocked_and_says_the_limit(settings):
    result = check("why " * 600, settings)
    assert result.stop == "block"
    assert f"{settings.max_question_chars:,}" in result.message


def test_binary_looking_input_is_blocked(settings):
    blob = bytes(range(256)).decode("latin-1")
    result = check(blob, settings)
    assert result.stop == "block"
    assert "binary" in result.message


def test_non_text_input_is_refused_not_crashing(settings):
    verdict = QuestionShapeValidator().validate(b"\x00\x01", CheckContext(settings=settings))  # type: ignore[arg-type]
    assert not verdict.passed and "plain text" in verdict.message


def test_shape_action_comes_from_settings(settings):
    escalating = settings.with_overrides({"question_shape_action": "escalate"})
    result = check("", escalating)
    assert result.stop is None and result.escalate


def test_normalize_action_block_blocks(settings):
    strict = settings.with_overrides({"normalize_action": "block"})
    result = run_validators("a\u200bb c", [NormalizeValidator()], CheckContext(settings=strict))
    assert result.stop == "block" and result.verdicts[0].action == "block"


@pytest.mark.parametrize("greeting", ["hello", "Hi there!", "hey team", "test", "help", "Good morning everyone :)", "are you there?"])
def test_a_greeting_gets_a_how_to_not_a_fallback_and_an_escalation(settings, greeting):
    from guardrails.normalize import GREETING_REPLY, QuestionShapeValidator

    verdict = QuestionShapeValidator().validate(greeting, CheckContext(settings=settings, question=greeting))
    assert not verdict.passed and verdict.message == GREETING_REPLY


def test_questions_that_start_like_a_greeting_are_questions(settings):
    from guardrails.normalize import QuestionShapeValidator

    for question in ("Hi, how do I set up the VPN?", "help with expenses please", "testing laptops: who pays?"):
        assert QuestionShapeValidator().validate(question, CheckContext(settings=settings, question=question)).passed
