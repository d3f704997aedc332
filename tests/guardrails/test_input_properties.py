"""Arbitrary text at the whole input path: it never raises, and what comes out is canonical."""

import pytest
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st

from bot.settings import load_settings
from guardrails.base import CheckContext, run_validators
from guardrails.input import input_validators
from guardrails.normalize import normalize_text

pytestmark = pytest.mark.slow

SETTINGS = load_settings(data_dir="/nonexistent-ragbot-test-dir")
VALIDATORS = input_validators(SETTINGS)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_input_path_never_crashes_and_yields_normalized_text(text):
    ctx = CheckContext(settings=SETTINGS, question=text, user_id="cli", channel_id="cli")
    result = run_validators(text, VALIDATORS, ctx)
    assert result.stop in (None, "block", "refrain")
    for verdict in result.verdicts:
        assert verdict.action in ("none", "fix", "refrain", "escalate", "block")
    if result.stop is None:
        assert result.text == normalize_text(result.text)  # idempotent: nothing left to fix
        assert SETTINGS.min_question_chars <= len(result.text) <= SETTINGS.max_question_chars
    else:
        assert result.message  # a refusal always says why


@hsettings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_normalize_is_idempotent_and_control_free(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in once)
