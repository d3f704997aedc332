from adapters.base import Passage
from adapters.prompt import ABSTAIN_SENTENCE, SYSTEM_PROMPT, build_messages, fit_passages
from bot.stages.generate import is_abstention


def words(text: str) -> int:
    return len(text.split())


def test_prompt_numbers_passages_and_asks_for_citations_and_abstention():
    messages = build_messages("Where is Normandy?", [Passage(1, "Normans", "Normandy is in France."), Passage(2, "Other", "Unrelated.")])
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert "[1] Normans\nNormandy is in France." in user
    assert "[2] Other\nUnrelated." in user
    assert user.rstrip().endswith("Question: Where is Normandy?")
    assert "[n]" in SYSTEM_PROMPT and ABSTAIN_SENTENCE in SYSTEM_PROMPT


def test_the_abstain_sentence_is_what_the_stage_detects():
    assert is_abstention(ABSTAIN_SENTENCE)
    assert not is_abstention("Normandy is in France [1].")


def test_history_is_included_but_bounded():
    messages = build_messages("And then?", [], history=[f"line {i}" for i in range(10)])
    assert "line 9" in messages[1]["content"] and "line 0" not in messages[1]["content"]


def test_fit_passages_keeps_everything_that_fits():
    passages = [Passage(1, "A", "short text")]
    assert fit_passages("q?", passages, 1000, words) == passages


def test_fit_passages_trims_the_last_passage_first_and_keeps_numbers():
    passages = [Passage(1, "A", " ".join(["alpha"] * 200)), Passage(2, "B", " ".join(["beta"] * 200))]
    kept = fit_passages("q?", passages, 330, words)
    assert [p.n for p in kept] == [1, 2]
    assert kept[0].text == passages[0].text
    assert words(kept[1].text) < 200
    total = sum(words(m["content"]) + 4 for m in build_messages("q?", kept))
    assert total <= 330


def test_fit_passages_drops_passages_that_would_become_stubs():
    passages = [Passage(1, "A", " ".join(["alpha"] * 200)), Passage(2, "B", " ".join(["beta"] * 200))]
    kept = fit_passages("q?", passages, 240, words)
    assert [p.n for p in kept] == [1]
    assert fit_passages("q?", passages, 10, words) == []
