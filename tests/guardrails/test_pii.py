import threading

import pytest

from guardrails.base import CheckContext, run_validators
from guardrails.pii import redact
from guardrails.pii.validators import AnswerPiiValidator, QuestionPiiValidator

pytestmark = pytest.mark.slow

PLANTED = {
    "EMAIL_ADDRESS": "jane.doe@example.com",
    "PHONE_NUMBER": "212-555-0199",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "US_SSN": "460-89-9847",
    "IBAN_CODE": "GB56HXDO88167774656119",
    "IP_ADDRESS": "10.24.3.17",
    "SECRET": "hunter2!",
}


@pytest.mark.parametrize("entity,value", sorted(PLANTED.items()))
def test_each_high_value_type_is_redacted(pii_engine, entity, value):
    text = f"Sure, here it is: the password: {value} " if entity == "SECRET" else f"Sure, here it is: {value} for you."
    redacted, findings = pii_engine.redact(text)
    assert value not in redacted
    assert f"[{entity}]" in redacted, (redacted, findings)


@pytest.mark.parametrize("card", ["4539.1488.0343.6467", "4111.1111.1111.1111", "4539-1488-0343-6467", "4539148803436467"])
def test_a_card_number_is_redacted_whatever_splits_its_groups(pii_engine, card):
    redacted, _ = pii_engine.redact(f"My card {card} was declined. Card {card}.")
    assert redacted == "My card [CREDIT_CARD] was declined. Card [CREDIT_CARD]."


def test_secrets_in_environment_files_and_urls_are_redacted(pii_engine):
    """A settings file in the knowledge base (a committed link to prod.env) was stored as written."""
    text = "SLACK_SIGNING_SECRET=8f14e45fceea167a5a36 and RAGBOT_DATABASE_URL=postgresql://ragbot:Hunter2-Prod@db.internal/ragbot"
    redacted, _ = pii_engine.redact(text)
    assert "8f14e45fceea167a5a36" not in redacted and "Hunter2-Prod" not in redacted
    assert "postgresql://ragbot:[SECRET]@db.internal/ragbot" in redacted


def test_dotted_numbers_that_are_no_card_stay(pii_engine):
    for text in ("Release 2024.11.22.1 is out.", "Pi is 3.14159265358979.", "Use code 0000 0000 0000 0000.",
                 "The job failed at 1712345678.123452, see the log."):  # a Slack ts: 16 digits, Luhn-valid
        assert pii_engine.redact(text)[0] == text


def test_emails_on_a_private_suffix_are_redacted_but_version_pins_are_not(pii_engine):
    redacted, _ = pii_engine.redact("Mail bob@corp.internal or it-desk@office.lan; we pin pkg@1.2.3.")
    assert redacted == "Mail [EMAIL_ADDRESS] or [EMAIL_ADDRESS]; we pin pkg@1.2.3."


def test_us_phone_is_not_tagged_uk_nhs(pii_engine):
    findings = pii_engine.analyze("Call the help desk on 212-555-0199.")
    assert [f.entity_type for f in findings] == ["PHONE_NUMBER"]


def test_plain_handbook_sentences_are_left_alone(pii_engine):
    for text in [
        "You get 25 days of annual leave per year [1].",
        "Connect to the VPN before opening the intranet; the password policy is in [2].",
        "Laptops are replaced every 3 years.",
        "During 2023, Windows 11 laptops were rolled out. Taxes are due in Spring 2024.",
        "Replace it via the portal within 30 days. The tool is called Okta Verify.",
        "I am looking for the VPN guide. This is urgent.",
    ]:
        assert redact(text) == text


def test_redact_is_safe_from_many_threads(pii_engine):
    texts = [f"user{i}@example.com called 212-555-01{i:02d}" for i in range(16)]
    results: dict[int, str] = {}

    def work(i):
        results[i] = redact(texts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all("@example.com" not in r and "[EMAIL_ADDRESS]" in r for r in results.values())


def test_question_pii_is_replaced_before_anything_else_sees_it(settings, pii_engine):
    ctx = CheckContext(settings=settings)
    result = run_validators("My SSN is 460-89-9847, is my payroll right?", [QuestionPiiValidator()], ctx)
    assert result.stop is None and "460-89-9847" not in result.text
    assert result.verdicts[0].action == "fix"


def test_question_keeps_what_it_is_about_for_search_but_stores_nothing_personal(settings, pii_engine):
    question = "What is the hotel limit in London? Mail jane.doe@example.com, card 4111 1111 1111 1111."
    result = run_validators(question, [QuestionPiiValidator()], CheckContext(settings=settings))
    verdict = result.verdicts[0]
    assert "London" in result.text and "jane.doe@example.com" in result.text  # searched and answered with
    assert "4111 1111 1111 1111" not in result.text  # high-risk: gone even from the search
    for value in ("London", "jane.doe@example.com", "4111 1111 1111 1111"):
        assert value not in verdict.redacted  # what logs and the database get


def test_question_pii_block_action(settings, pii_engine):
    ctx = CheckContext(settings=settings.with_overrides({"input_pii_action": "block"}))
    result = run_validators("Email me at jane.doe@example.com", [QuestionPiiValidator()], ctx)
    assert result.stop == "block" and "personal data" in result.message


def test_answer_keeps_low_risk_pii_quoted_from_sources_but_never_high_risk(settings, pii_engine):
    source = "The IT help desk is helpdesk@acme.com, card on file 4111 1111 1111 1111."
    draft = "Write to helpdesk@acme.com [1]. The card is 4111 1111 1111 1111."
    ctx = CheckContext(settings=settings, source_texts=[source], n_sources=1)
    result = run_validators(draft, [AnswerPiiValidator()], ctx)
    assert "helpdesk@acme.com" in result.text
    assert "4111 1111 1111 1111" not in result.text

    strict = CheckContext(settings=settings.with_overrides({"pii_allow_from_sources": False}), source_texts=[source])
    result = run_validators(draft, [AnswerPiiValidator()], strict)
    assert "helpdesk@acme.com" not in result.text


def test_only_a_whole_quote_from_the_sources_is_kept(settings, pii_engine):
    source = "Questions about Benefits go to dana.whitfield@example.com."
    ctx = CheckContext(settings=settings, source_texts=[source], n_sources=1)
    result = run_validators("Mail ana.whitfield@example.com or dana.whitfield@example.com [1].", [AnswerPiiValidator()], ctx)
    assert "ana.whitfield@example.com or" not in result.text  # a different address, inside a quoted one
    assert "dana.whitfield@example.com [1]" in result.text


def test_a_nine_digit_ssn_is_high_risk_not_a_phone_number(settings, pii_engine):
    question = "My social security number 536221947 - how do I update my W-4?"
    result = run_validators(question, [QuestionPiiValidator()], CheckContext(settings=settings, question=question))
    assert "536221947" not in result.text  # high-risk types never reach search or generation


def test_placeholders_from_an_earlier_redaction_stay_as_they_are(pii_engine):
    assert redact("reach me at [PHONE_NUMBER], [PERSON]") == "reach me at [PHONE_NUMBER], [PERSON]"


def test_a_cut_never_leaves_half_a_placeholder_or_half_an_email():
    from guardrails.pii.records import cut_redacted, question_for_records

    assert cut_redacted("call [PHONE_NUMBER] now", 12) == "call "
    text = "x" * 487 + " Contact: jane.doe@example.com please"
    kept = question_for_records(text, 500)
    assert len(kept) <= 500 and "jane.doe" not in kept and "@exam" not in kept


def test_answer_pii_refrain_action(settings, pii_engine):
    ctx = CheckContext(settings=settings.with_overrides({"output_pii_action": "refrain"}))
    result = run_validators("Her SSN is 460-89-9847.", [AnswerPiiValidator()], ctx)
    assert result.stop == "refrain"


def test_addresses_and_names_in_context(pii_engine):
    text = "Name:    Iva D. Grusová\nAddress: 2456 Rue de Virton 38\n Suite 510\n Ettelgem\n Belgium"
    redacted = redact(text)
    for value in ("Iva D. Grusová", "Rue de Virton 38", "Suite 510", "Ettelgem"):
        assert value not in redacted, redacted


def test_a_house_number_with_a_letter_is_still_an_address(pii_engine):
    redacted = redact("Ship it to 221B Baker Street, London NW1 6XE")
    assert "Baker Street" not in redacted, redacted


def test_signature_line_name_is_redacted(pii_engine):
    redacted = redact("Thanks!\n\nMaureen Thibault\nPhone: 212-555-0199")
    assert "Maureen Thibault" not in redacted and "212-555-0199" not in redacted


def test_start_up_prints_no_warning_for_each_other_language_recognizer(caplog):
    import logging

    from guardrails.pii.engine import PiiEngine

    caplog.set_level(logging.WARNING)
    engine = PiiEngine()  # a fresh one: the session's engine was built before caplog listened
    assert not [r for r in caplog.records if "not supported by registry" in r.getMessage()]
    other = logging.LogRecord("presidio-analyzer", logging.WARNING, __file__, 1, "entity %s failed", ("X",), None)
    assert logging.getLogger("presidio-analyzer").filter(other)  # every other warning still shows
    assert engine.redact("mail jane.doe@example.com")[1]


def test_the_place_asked_about_is_answered_by_name_and_kept_only_redacted(settings, pii_engine):
    """"The hotel limit in [LOCATION] is 150 euros" answered a question about Berlin."""
    from guardrails.pii.validators import conceal

    question = "What is the hotel limit in Berlin? Mail me at jane.doe@example.com"
    ctx = CheckContext(settings=settings, question=question, source_texts=["Hotels: up to 150 euros a night in any EU city."], n_sources=1)
    draft = "The hotel limit in Berlin is 150 euros a night [1]. Reply to jane.doe@example.com."
    result = run_validators(draft, [AnswerPiiValidator()], ctx)
    assert "in Berlin is 150 euros" in result.text  # the asker sees what they asked about
    assert "jane.doe@example.com" not in result.text  # repeating an email helps nobody
    kept = result.verdicts[0].kept
    assert kept == (("Berlin", "[LOCATION]"),)
    assert conceal(result.text, kept) == "The hotel limit in [LOCATION] is 150 euros a night [1]. Reply to [EMAIL_ADDRESS]."
    unasked = run_validators("The hotel limit in Paris is 150 euros a night [1].", [AnswerPiiValidator()], ctx)
    assert "Paris" not in unasked.text  # a place the asker did not name is still redacted
