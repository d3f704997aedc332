"""The name gazetteer: names the small spaCy model misses are redacted, while the product and
tool names of ordinary work questions pass through unchanged (redacting them breaks retrieval)."""

import pytest

from guardrails.pii import redact
from guardrails.pii.names import find_names, person_span_ok, repeated_mentions

pytestmark = pytest.mark.slow

# Handbook-style questions (examples/handbook/): every one must come back byte for byte.
WORK_QUESTIONS = [
    "How do I import the WireGuard profile on my MacBook Pro?",
    "Okta Verify keeps asking me to approve the push notification, what do I do?",
    "Will Okta Verify work on a new phone?",
    "Who is on call in PagerDuty this week and how do I swap a shift?",
    "Where do I store shared passwords, is 1Password allowed?",
    "How do I request parental leave in Personio?",
    "Can I submit my train tickets in Pleo after the trip?",
    "Is the YubiKey mandatory for Slack and Jira?",
    "Does Kestrel Systems reimburse a monitor for the home office?",
    "Do I need the VPN to open Grafana, Sentry or Datadog?",
    "Can I share a board in Miro or a project in Asana with a contractor?",
    "May I use Zoom or Google Meet with customers?",
    "Mark the SEV1 incident as resolved in PagerDuty?",
    "Who is on call for a SEV2 incident?",  # spaCy reads SEV2 as a place
    "Ask Anna about the SEV2 runbook",
    "Is Windows 11 supported on the Lenovo ThinkPad, or only macOS?",
    "Grace period for expense reports after the offsite?",
    "what is the sick leave policy in personio?",
    "how do i set up wireguard on linux?",
    "Is Linux supported, and which UDP port does the tunnel use?",
]


@pytest.mark.parametrize("question", WORK_QUESTIONS)
def test_work_questions_pass_through_unchanged(pii_engine, question):
    assert redact(question) == question


@pytest.mark.parametrize(
    "text,name",
    [
        ("Tomomi Nishiyama lives at the address on file.", "Tomomi Nishiyama"),
        ("follow up with patricia desrosiers in a couple of months.", "patricia desrosiers"),
        ("Have you been to a Szabina J Gelencsér concert before?", "Szabina J Gelencsér"),
        ("Sometimes people call me Csanád", "Csanád"),
        ("I want to add Tünde Hoffmann as a beneficiary to my account", "Tünde Hoffmann"),
    ],
)
def test_names_the_small_model_misses_are_redacted(pii_engine, text, name):
    redacted = redact(text)
    assert name not in redacted and "[PERSON]" in redacted, redacted


def test_an_english_word_needs_more_than_a_name_list():
    # "Will" is a first name and an English word: at the start of a sentence it is the verb
    assert find_names("Will Okta work with WireGuard?") == []
    assert find_names("Key points of the leave policy") == []


def test_a_lone_first_name_next_to_a_capitalised_word_is_left_alone():
    assert find_names("Open the Scott Tracker board") == []
    assert [("Scott")] == [("Open the ticket for Scott today"[s:e]) for s, e, _ in find_names("Open the ticket for Scott today")]


def test_repeated_mentions_of_a_found_name():
    text = "Magnus spent a year as the assistant to Magnus Poulsen; Poulsen hired him."
    start = text.index("Magnus Poulsen")
    extra = repeated_mentions(text, [(start, start + len("Magnus Poulsen"), 0.7)])
    assert [text[s:e] for s, e, _ in extra] == ["Magnus", "Poulsen"]


def test_organisation_and_street_words_end_no_name():
    assert not person_span_ok("Davis Orchestra")
    assert not person_span_ok("Joaquin Suarez 2906")
    assert person_span_ok("Ann Lee")


def test_a_name_with_a_middle_initial_may_end_in_an_english_word():
    assert person_span_ok("Daniela C Capon")
    assert not person_span_ok("Okta Verify")


def test_a_name_stops_at_the_end_of_its_line(pii_engine):
    text = "Name:    Fredrik L Sommerseth\nAddress:     83393 Pärna 33"
    persons = [text[f.start:f.end] for f in pii_engine.analyze(text) if f.entity_type == "PERSON"]
    assert persons == ["Fredrik L Sommerseth"]


def test_a_place_named_by_its_verb_is_redacted(pii_engine):
    redacted = redact("Mr. Pálffy is a 19 year old man who grew up in RYSSBY.")
    assert "RYSSBY" not in redacted and "[LOCATION]" in redacted, redacted


def test_a_code_is_no_place_but_a_street_address_still_is(pii_engine):
    assert redact("Who approves SEV2 in Berlin?") == "Who approves SEV2 in [LOCATION]?"
    assert redact("I live at 221B Baker Street, London") == "I live at [LOCATION]"


def test_a_weekday_is_no_person():
    assert not person_span_ok("Sunday")
