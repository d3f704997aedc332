import numpy as np
import pytest

from guardrails.base import CheckContext, run_validators
from guardrails.grounding import GroundednessValidator, score_support
from guardrails.grounding.support import content_words, split_sentences

SOURCE = "Full-time employees get 28 days of annual leave per year. Unused leave carries over until 31 March."
QUESTION = "How much annual leave do full-time employees get?"


def bag_of_words_embed(texts):
    """A stand-in embedder (hashing bag of words) so these tests need no model."""
    vectors = np.zeros((len(texts), 256), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in content_words(text):
            vectors[i, hash(word) % 256] += 1.0
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def _check(answer, settings, **overrides):
    s = settings.with_overrides(overrides) if overrides else settings
    ctx = CheckContext(settings=s, question=QUESTION, source_texts=[SOURCE], n_sources=1)
    return run_validators(answer, [GroundednessValidator(embed=bag_of_words_embed)], ctx)


def test_sentences_and_content_words():
    assert split_sentences("One is here. Two [1] is there! Three?") == ["One is here.", "Two [1] is there!", "Three?"]
    assert content_words("The employees are getting days") == {"employee", "gett", "day"}


def test_supported_answer_passes_with_high_score(settings):
    result = _check("Full-time employees get 28 days of annual leave [1].", settings)
    assert result.verdicts[0].passed and result.verdicts[0].score > 0.8


def test_invented_number_lowers_support():
    right = score_support("Employees get 28 days of leave [1].", [SOURCE], QUESTION, bag_of_words_embed)[0]
    wrong = score_support("Employees get 35 days of leave [1].", [SOURCE], QUESTION, bag_of_words_embed)[0]
    assert wrong.support <= right.support / 2


def test_unsupported_sentence_is_dropped_by_fix(settings):
    draft = "Full-time employees get 28 days of annual leave [1]. The CEO personally approves every yacht purchase."
    result = _check(draft, settings, groundedness_action="fix")
    verdict = result.verdicts[0]
    assert not verdict.passed and verdict.action == "fix" and verdict.score < 0.8
    assert result.text == "Full-time employees get 28 days of annual leave [1]."


def test_wholly_unsupported_answer_refrains_even_under_fix(settings):
    result = _check("The CEO personally approves every yacht purchase.", settings, groundedness_action="fix")
    assert result.stop == "refrain"


def test_a_fix_that_leaves_no_supported_claim_refrains(settings):
    """Cutting the weak list item "4. Days of ..." also cut the supported copy of its words out of
    the lead-in line that repeated it, leaving "The answer is:", which was sent as an answer."""
    draft = "4. Days of annual leave are 35 per year\n\nThe answer is: 4. Days of annual leave are 35 per year"
    result = _check(draft, settings, groundedness_action="fix")
    assert result.stop == "refrain", result.text


def test_escalate_action(settings):
    result = _check("The CEO personally approves every yacht purchase.", settings, groundedness_action="escalate")
    assert result.stop is None and result.escalate


def test_pii_placeholders_and_citations_are_not_claims():
    supports = score_support("Ask [PERSON] [1].", [SOURCE], QUESTION, bag_of_words_embed)
    assert supports == []


@pytest.mark.slow
def test_real_embedder_separates_paraphrase_from_fabrication():
    paraphrase = score_support("Staff working full time are entitled to 28 days off each year [1].", [SOURCE], QUESTION)[0]
    fabricated = score_support("Staff may bring their dogs to the office on Fridays.", [SOURCE], QUESTION)[0]
    assert paraphrase.support > 0.6 > 0.4 > fabricated.support


VPN = "The VPN client is supported on Windows, macOS and Linux. Alcohol cannot be expensed."


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer",
    [
        "The VPN client is not supported on Windows, macOS or Linux [1].",  # adds a negation
        "Alcohol can be expensed [1].",  # drops the source's negation from a near copy
    ],
)
def test_an_answer_that_flips_its_sources_polarity_is_not_supported(answer):
    assert score_support(answer, [VPN], "")[0].support < 0.5


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer",
    ["The VPN client is supported on Windows, macOS and Linux [1].", "Alcohol cannot be expensed [1]."],
)
def test_an_answer_with_its_sources_polarity_stays_supported(answer):
    assert score_support(answer, [VPN], "")[0].support >= 0.5


@pytest.mark.slow
def test_a_negative_question_allows_either_polarity():
    question = "Which platforms is the VPN client not supported on?"
    answer = "The VPN client is supported on Windows, macOS and Linux [1]."
    assert score_support(answer, [VPN], question)[0].support >= 0.5


def test_missing_citation_is_added_from_the_supporting_passage(settings):
    from guardrails.grounding import CitationValidator

    other = "Laptops are replaced every three years by IT."
    ctx = CheckContext(settings=settings, question=QUESTION, source_texts=[other, SOURCE], n_sources=2)
    result = run_validators("Full-time employees get 28 days of annual leave.", [CitationValidator(embed=bag_of_words_embed)], ctx)
    assert result.text == "Full-time employees get 28 days of annual leave [2]."
    cited = run_validators("Employees get 28 days of annual leave [2].", [CitationValidator(embed=bag_of_words_embed)], ctx)
    assert cited.verdicts[0].passed


def test_citation_goes_after_its_own_sentence_not_inside_an_earlier_one(settings):
    from guardrails.grounding import CitationValidator

    ctx = CheckContext(settings=settings, question=QUESTION, source_texts=[SOURCE], n_sources=1)
    first = "Full-time employees get 28 days of annual leave per year [1]."
    repeat = "Full-time employees get 28 days of annual leave"  # a truncated repeat, uncited
    result = run_validators(f"{first}\n{repeat}", [CitationValidator(embed=bag_of_words_embed)], ctx)
    assert result.text == f"{first}\n{repeat} [1]"


def test_list_markers_stay_with_their_items_and_code_is_not_cited(settings):
    """A numbered list got "1 [1]." (the marker was a sentence of its own, with a number); a
    [1] inside a fenced command breaks it when pasted."""
    from guardrails.grounding import CitationValidator

    steps = "To get a VPN profile:\n1. Open the self-service portal at vpn.example.\n2. Sign in with your single sign-on account."
    ctx = CheckContext(settings=settings, question="How do I get a VPN profile?", source_texts=[steps + "\nRun sudo wg-quick up kestrel to connect."], n_sources=1)
    listed = run_validators("1. Open the self-service portal at vpn.example.\n2. Sign in with your single sign-on account.",
                            [CitationValidator(embed=bag_of_words_embed)], ctx)
    assert listed.text == "1. Open the self-service portal at vpn.example [1].\n2. Sign in with your single sign-on account [1]."
    fenced = run_validators("Run this to connect [1]:\n```\nsudo wg-quick up kestrel\n```", [CitationValidator(embed=bag_of_words_embed)], ctx)
    assert "kestrel\n```" in fenced.text and "kestrel [1]" not in fenced.text
    assert split_sentences("1. First step here.\n- Second step there.") == ["1. First step here.", "- Second step there."]


@pytest.mark.parametrize(
    "source, answer",
    [
        ("Never share passwords or one-time codes with anyone, including IT staff.", "Yes, you can share one-time codes with IT staff."),
        ("Split tunnelling is disabled by policy.", "Split tunnelling is enabled by policy."),
        ("The VPN is mandatory when working from home.", "The VPN is optional when working from home."),
        ("Third-party VPN clients are not supported on company laptops.", "Third-party VPN clients are supported."),
    ],
)
def test_an_answer_that_says_the_opposite_of_its_source_fails(settings, source, answer):
    """A premise taken from the question, a dropped "never", a word swapped for its opposite:
    each passed with support near 1.0 (found by review, session 6)."""
    ctx = CheckContext(settings=settings, question="Can I share one-time codes with IT staff?", source_texts=[source], n_sources=1)
    verdict = run_validators(answer, [GroundednessValidator(embed=bag_of_words_embed)], ctx).verdicts[0]
    assert not verdict.passed, (answer, verdict.score)
    assert run_validators(source, [GroundednessValidator(embed=bag_of_words_embed)], ctx).verdicts[0].passed  # the source itself passes


def test_a_list_number_is_not_an_invented_figure_and_number_words_match_digits():
    plain = score_support("Full-time employees get 28 days of annual leave [1].", [SOURCE], QUESTION, bag_of_words_embed)[0]
    numbered = score_support("1. Full-time employees get 28 days of annual leave [1].", [SOURCE], QUESTION, bag_of_words_embed)[0]
    assert numbered.support == plain.support
    words = "Unused leave of up to five days carries over."
    assert score_support("Up to 5 unused days carry over [1].", [words], "How many days carry over?", bag_of_words_embed)[0].support >= 0.5


def test_a_reply_that_only_restates_a_what_question_is_not_supported_but_a_yes_no_answer_is():
    source = "The travel desk can be reached at travel@example.com."
    restated = score_support("The email for the travel desk is: [email_here] [1]", [source], "What's the email for the travel desk?", bag_of_words_embed)[0]
    assert restated.lexical == 0.0 and restated.support < 0.5
    usb = "USB storage devices are not allowed on company laptops."
    yes_no = score_support("No, USB storage devices are not allowed on company laptops [1].", [usb], "Are USB storage devices allowed on company laptops?", bag_of_words_embed)[0]
    assert yes_no.support >= 0.5


def test_a_draft_of_filler_and_numbers_only_refrains_but_a_short_answer_passes(settings):
    assert _check("5. \n\nThe answer is.\n\nThe passage is [1]\n\nThe", settings, groundedness_action="fix").stop == "refrain"
    assert _check("Yes [1].", settings, groundedness_action="fix").stop is None
