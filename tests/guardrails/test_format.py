import pytest

from guardrails.base import CheckContext, run_validators
from guardrails.format import FormatValidator, repair_citations, slack_safe


def _check(text, settings, n_sources=2):
    return run_validators(text, [FormatValidator()], CheckContext(settings=settings, n_sources=n_sources))


def test_clean_answer_passes_untouched(settings):
    result = _check("Leave is 28 days a year [1].", settings)
    assert result.verdicts[0].passed and result.text == "Leave is 28 days a year [1]."


@pytest.mark.parametrize(
    "draft,expected",
    [
        ("<!channel> read this", "&lt;!channel&gt; read this"),
        ("ping <@U024BE7LH> now", "ping &lt;@U024BE7LH&gt; now"),
        ("hey @here and @everyone and @Channel", "hey here and everyone and Channel"),
        ("R&D <3 <https://evil|click>", "R&amp;D &lt;3 &lt;https://evil|click&gt;"),
        ("already &amp; escaped", "already &amp; escaped"),
    ],
)
def test_slack_control_characters_and_mentions_are_defused(draft, expected):
    assert slack_safe(draft) == expected


def test_citations_are_repaired_or_dropped():
    assert repair_citations("A [1, 2]. B [Source 2]. C [7]. D [1-2].", 2) == ("A [1][2]. B [2]. C. D [1][2].", 1)
    assert repair_citations("No sources [1].", 0) == ("No sources.", 1)


def test_invalid_citation_is_fixed_by_default_and_refrains_when_asked(settings):
    result = _check("It is 90 days [3].", settings)
    assert result.stop is None and result.text == "It is 90 days." and result.verdicts[0].action == "fix"
    strict = settings.with_overrides({"format_action": "refrain"})
    assert _check("It is 90 days [3].", strict).stop == "refrain"


def test_empty_answer_cannot_be_fixed_so_it_refrains(settings):
    result = _check("   ", settings)
    assert result.stop == "refrain"


def test_over_long_answer_is_cut_at_a_sentence(settings):
    s = settings.with_overrides({"max_answer_chars": 100})
    result = _check("This sentence is fine [1]. " * 10, s)
    assert len(result.text) <= 100 and result.text.endswith("[1].")


def test_repeated_sentences_are_dropped(settings):
    draft = "Profiles last 90 days [1]. Renew in the portal.\n\nRenew in the portal.\n\nRenew in the portal."
    result = _check(draft, settings)
    assert result.text == "Profiles last 90 days [1]. Renew in the portal."
    assert "repeated" in result.verdicts[0].message


def test_echoed_prompt_lines_are_dropped_and_the_answer_kept(settings):
    draft = "Answer: Leave is 28 days a year [1].\nQuestion: How much annual leave do I get?"
    result = _check(draft, settings)
    assert result.text == "Leave is 28 days a year [1]."
    assert "echoed" in result.verdicts[0].message


def test_a_copy_of_the_question_or_an_earlier_one_is_dropped(settings):
    """A thread's follow-up was answered with the asker's own earlier questions as bullets."""
    draft = "- What is the hotel limit per night [1]?\n- The hotel limit in London is *250 EUR* [1].\n- What about [LOCATION]?"
    context = CheckContext(settings=settings, n_sources=1, question="and meals?",
                           earlier_questions=["What is the hotel limit per night?", "what about [LOCATION]?"])
    result = run_validators(draft, [FormatValidator()], context)
    assert result.text == "- The hotel limit in London is *250 EUR* [1]." and "echoed" in result.verdicts[0].message
    only_copy = CheckContext(settings=settings, n_sources=1, question="What is the hotel limit per night?")
    assert run_validators("What is the hotel limit per night?", [FormatValidator()], only_copy).stop == "refrain"


def test_an_answer_is_lead_in_and_an_empty_code_block_are_dropped(settings):
    draft = "The answer is: Leave is 28 days a year [1].\n\n```bash\n\n```\n\n```bash\nvpn renew\n```"
    assert _check(draft, settings).text == "Leave is 28 days a year [1].\n\n```bash\nvpn renew\n```"
    assert _check("The answer is 28 days [1].", settings).text == "The answer is 28 days [1]."  # a sentence, not a label


def test_a_draft_that_only_echoes_the_prompt_refrains(settings):
    result = _check("Question: How much annual leave do I get?\nContext:", settings)
    assert result.stop == "refrain" and "repeated the prompt" in result.verdicts[0].message


def test_the_words_question_and_answer_inside_a_sentence_are_kept(settings):
    draft = "The answer depends on the question you ask HR [1]."
    assert _check(draft, settings).text == draft


def test_emails_years_and_amounts_are_not_mentions_or_citations():
    assert slack_safe("Write to ops@here.io or sales@channel.com; ping @here only in emergencies.") == (
        "Write to ops@here.io or sales@channel.com; ping here only in emergencies.")
    assert repair_citations("The policy changed in [2024] and the limit is [250] EUR [1].", 1) == (
        "The policy changed in [2024] and the limit is [250] EUR [1].", 0)
    assert repair_citations("See [7].", 1) == ("See.", 1)  # a small number is a citation, to a source not given


def test_a_cut_at_a_sentence_end_is_still_marked():
    from guardrails.format.slack import TRUNCATION_MARK, truncate

    cut = truncate("First sentence is here. " * 20, 100)
    assert cut.endswith("here." + TRUNCATION_MARK) and len(cut) <= 100


def test_a_draft_stopped_at_max_new_tokens_ends_at_its_last_whole_sentence(settings):
    """It was sent as written: "You can also use `" with a dangling backtick, at high confidence."""
    def cut(draft: str) -> str:
        return FormatValidator().validate(draft, CheckContext(settings=settings, n_sources=1, cut_short=True)).fixed

    assert cut("Run `rollback -v` first [1]. You can also use `") == "Run `rollback -v` first [1]. …"
    assert cut("Steps [1]:\n- Open the portal\n- Click Deploy\n- Wait for the") == "Steps [1]:\n- Open the portal\n- Click Deploy …"
    assert cut("Use this [1]:\n```bash\nrollback svc --to") == "Use this [1]:\n```bash\nrollback svc --to\n```\n…"  # the block closed
    whole = "Profiles last 90 days [1]."
    assert FormatValidator().validate(whole, CheckContext(settings=settings, n_sources=1)).passed  # not cut short: untouched


def test_lines_of_bare_citations_are_dropped(settings):
    result = _check("The printer is handled by Facilities [1].\n[1]\n[1]\n- [1]", settings)
    assert result.text == "The printer is handled by Facilities [1]."
