"""One JSON log line per question, with hashed ids and no raw personal data."""

from __future__ import annotations

import io
import json
import logging
import re

from adapters.base import Generation
from bot.answer import Outcome
from bot.observability.hashing import IdHasher
from bot.observability.question_log import QUESTION_LOGGER, WITHHELD, QuestionLogger, install_json_handler
from bot.pipeline import Pipeline
from bot.stages import GenerateStage, InputGuardStage, OutputGuardStage, RelevanceGateStage, RetrieveStage
from bot.turn import RequestContext
from guardrails.base import CheckContext, Verdict
from retrieval.types import Chunk, Hit

EMAIL = "jane.doe@example.com"
USER, CHANNEL = "U0SECRETUSER", "C0SECRETCHAN"


def _redact_emails(text: str) -> str:
    return re.sub(r"\S+@\S+", "<EMAIL_ADDRESS>", text)


class Hits:
    def search(self, query, *, k, alpha):
        chunk = Chunk("c1", "d1", "VPN", "vpn.md", "text", "p1", "VPN profiles last 90 days.")
        return [Hit(chunk=chunk, score=1.0, cosine=0.8, bm25=4.2)]


class Cosine:
    def relevance(self, query, hits):
        return hits[0].cosine


class Gen:
    def generate(self, question, passages, *, history=None):
        return Generation(text="Profiles last 90 days [1].", model="fake-lm", adapter="hr-v1", prompt_tokens=42, completion_tokens=7)


class EmailCheck:
    name, action_setting = "pii", "input_pii_action"

    def validate(self, text: str, context: CheckContext) -> Verdict:
        if "@" not in text:
            return Verdict(self.name, True, score=1.0)
        return Verdict(self.name, False, score=0.9, message=f"found {EMAIL}", fixed=_redact_emails(text))


def _pipeline(settings, logger):
    stages = [InputGuardStage([EmailCheck()]), RetrieveStage(Hits()), RelevanceGateStage(Cosine()), GenerateStage(Gen()), OutputGuardStage([])]
    return Pipeline(stages, settings, observers=[logger])


def test_one_json_line_per_question_with_hashed_ids_and_no_raw_pii(make_settings):
    settings = make_settings(min_relevance=0.5)
    stream = io.StringIO()
    install_json_handler(stream)
    logger = QuestionLogger(IdHasher.from_settings(settings), redactor=_redact_emails)
    pipeline = _pipeline(settings, logger)
    for n in range(3):
        pipeline.run(f"Is the VPN profile for {EMAIL} valid? ({n})", RequestContext(user_id=USER, channel_id=CHANNEL))

    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert EMAIL not in line and USER not in line and CHANNEL not in line
        record = json.loads(line)
        assert record["event"] == "question" and len(record["request_id"]) == 12
        assert record["user"] == IdHasher.from_settings(settings)(USER)  # stable across instances (salt kept in data_dir)
        assert "<EMAIL_ADDRESS>" in record["question"]
        assert record["outcome"] == "answered" and record["confidence"] == 0.8
        assert set(record["stages_ms"]) == {"input_guard", "retrieve", "relevance_gate", "generate", "output_guard"}
        assert record["retrieval"]["top_cosine"] == 0.8 and record["retrieval"]["top_bm25"] == 4.2
        assert record["gate"] == {"relevance": 0.8, "min_relevance": 0.5, "decision": "continue"}
        assert record["guardrails"]["input"] == {"pii": {"passed": False, "score": 0.9, "action": "fix"}}
        assert record["adapter"] == "hr-v1" and record["model"] == "fake-lm"
        assert record["tokens"] == {"prompt": 42, "completion": 7}
    assert len({json.loads(line)["request_id"] for line in lines}) == 3


def test_question_is_withheld_without_a_redactor_and_failures_are_logged_by_kind(make_settings):
    settings = make_settings(min_relevance=0.5)
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(json.loads(record.getMessage()))

    handler = Capture()
    logging.getLogger(QUESTION_LOGGER).addHandler(handler)
    try:
        logger = QuestionLogger(IdHasher(b"salt"), redactor=None)

        class Broken:
            def search(self, query, *, k, alpha):
                raise ConnectionError(f"store down while searching {query}")

        stages = [InputGuardStage([]), RetrieveStage(Broken()), RelevanceGateStage(Cosine()), GenerateStage(Gen()), OutputGuardStage([])]
        answer = Pipeline(stages, settings, observers=[logger]).run(f"mail {EMAIL} please")
    finally:
        logging.getLogger(QUESTION_LOGGER).removeHandler(handler)
    assert answer.outcome is Outcome.FALLBACK
    (record,) = records
    assert record["question"] == WITHHELD and record["escalation_reason"] == WITHHELD
    assert record["errors"] == {"retrieve": "ConnectionError"}  # the kind, not the message quoting the question
    assert EMAIL not in json.dumps(record)


def test_a_failing_observer_never_breaks_the_reply(make_settings):
    class Exploding:
        def on_answer(self, answer, turn, total_ms):
            raise RuntimeError("log sink full")

    settings = make_settings(min_relevance=0.5)
    answer = _pipeline(settings, Exploding()).run("How long is a VPN profile valid?")
    assert answer.outcome is Outcome.ANSWERED


def test_hasher_is_salted():
    assert IdHasher(b"a")("U1") != IdHasher(b"b")("U1")
    assert IdHasher(b"a")("U1") == IdHasher(b"a")("U1") and IdHasher(b"a")(None) is None


def test_an_empty_or_garbled_salt_file_is_replaced_not_fatal(make_settings):
    from bot.observability.hashing import SALT_FILE

    settings = make_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for content in ("", "not hex\n"):
        (settings.data_dir / SALT_FILE).write_text(content)
        hasher = IdHasher.from_settings(settings)
        assert len(hasher(USER)) == 16 and hasher(USER) == IdHasher.from_settings(settings)(USER)  # kept from now on


def test_an_error_kind_stops_before_the_address_it_names():
    from bot.observability.question_log import _error_kind

    assert _error_kind("generator server answered HTTP 503 (http://vllm:8000/v1): overloaded") == "generator server answered HTTP 503"
    assert _error_kind("generator server unreachable (http://vllm:8000/v1): refused") == "generator server unreachable"


def test_instances_on_one_database_share_the_salt_so_a_thread_answered_by_one_is_known_to_the_other(make_settings, tmp_path, database_url):
    from bot.observability.hashing import SALT_FILE
    from bot.slack.worker import thread_key
    from bot.state import QuestionRecord, open_state

    first, second = make_settings(data_dir=tmp_path / "a"), make_settings(data_dir=tmp_path / "b")
    first.data_dir.mkdir(parents=True)
    (first.data_dir / SALT_FILE).write_text("ab" * 32)  # an instance that ran alone before keeps its hashes
    state_a, state_b = open_state(database_url), open_state(database_url)
    try:
        hash_a, hash_b = IdHasher.from_settings(first, state_a.db), IdHasher.from_settings(second, state_b.db)
        assert hash_a(USER) == hash_b(USER) == IdHasher(bytes.fromhex("ab" * 32))(USER)
        record = QuestionRecord(request_id="r1", outcome="answered", latency_ms=1.0, thread_key=thread_key(hash_a, "C1", "1.1"), user_hash=hash_a(USER))
        state_a.questions.record(record, replies=[])
        assert state_b.questions.asked_in_thread(thread_key(hash_b, "C1", "1.1"), hash_b(USER))  # a follow-up reaching the other instance
        assert IdHasher.from_settings(make_settings(data_dir=tmp_path / "c", log_salt="team-salt"), state_b.db)(USER) == IdHasher(b"team-salt")(USER)
    finally:
        state_a.close()
        state_b.close()
