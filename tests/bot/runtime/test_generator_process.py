"""A crashed or hung generator child is replaced and no question in flight is lost."""

from __future__ import annotations

import os
import time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.base import Generation, GeneratorError, GeneratorTimeout, Passage
from bot.runtime.generator_process import ProcessGenerator, wait_until

PASSAGES = [Passage(1, "VPN", "Profiles last 90 days.")]


class ScriptedGenerator:
    """Runs in the child. Behaviour by question: 'crash-once' kills the process the first time
    (a marker file in data_dir remembers it across processes), 'crash' always, 'hang' never answers."""

    def __init__(self, settings) -> None:
        self.marker = settings.data_dir / "crashed-once"

    def generate(self, question, passages, *, history=None):
        if question == "crash" or (question == "crash-once" and not self.marker.exists()):
            self.marker.parent.mkdir(parents=True, exist_ok=True)
            self.marker.touch()
            time.sleep(0.2)
            os._exit(9)
        if question == "hang":
            time.sleep(120)
        if question == "slow":
            time.sleep(4)
        if question == "too-long":  # the model's own time limit, inside the child
            raise GeneratorTimeout("generation took longer than 1s")
        time.sleep(0.3)
        return Generation(text=f"answer to {question} from {os.getpid()}", model="scripted")


def scripted(settings):
    return ScriptedGenerator(settings)


@pytest.fixture
def generator(make_settings, monkeypatch):
    # the spawned child unpickles `scripted` by module name: it needs the repository on its path
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))
    settings = make_settings(generation_timeout_s=1)
    gen = ProcessGenerator(settings, scripted, hang_grace_s=1.0)
    yield gen
    gen.close()


def test_answers_come_from_a_child_process(generator):
    generator.warm_up()
    result = generator.generate("q", PASSAGES)
    assert result.text.startswith("answer to q") and generator.pid != os.getpid()


def test_a_crash_with_questions_in_flight_restarts_the_child_and_answers_all(generator):
    generator.warm_up()
    first_pid = generator.pid
    questions = ["q1", "q2", "crash-once", "q3", "q4"]
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda q: generator.generate(q, PASSAGES), questions))
    assert [r.text.split(" from ")[0] for r in results] == [f"answer to {q}" for q in questions]
    assert generator.restarts == 1 and generator.pid != first_pid


def test_a_question_that_always_crashes_fails_politely_and_the_next_one_works(generator):
    with pytest.raises(GeneratorError, match="crashed"):
        generator.generate("crash", PASSAGES)
    assert generator.generate("after", PASSAGES).text.startswith("answer to after")
    assert generator.restarts == 2  # one crash per attempt (max_attempts=2)


def test_a_hung_child_is_replaced_after_the_deadline(generator):
    generator.warm_up()  # the deadline runs from a loaded child: its start-up does not count
    started = time.monotonic()
    with pytest.raises(GeneratorTimeout, match="did not answer"):
        generator.generate("hang", PASSAGES)
    assert time.monotonic() - started < 5
    assert wait_until(lambda: generator.restarts == 1, 5)
    assert generator.generate("after", PASSAGES).text.startswith("answer to after")


def test_a_slow_request_fails_alone_while_the_child_keeps_answering_others(generator):
    generator.warm_up()
    pid = generator.pid
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(generator.generate, "slow", PASSAGES)
        others = [generator.generate(f"q{n}", PASSAGES) for n in range(8)]  # ~0.3 s each, during the slow one
        with pytest.raises(GeneratorTimeout, match="did not answer"):
            slow.result()
    assert len(others) == 8 and generator.restarts == 0 and generator.pid == pid


def test_a_timeout_inside_the_child_stays_a_timeout(generator):
    with pytest.raises(GeneratorTimeout, match="longer than 1s"):
        generator.generate("too-long", PASSAGES)


def test_a_model_that_cannot_load_fails_each_request_without_a_crash_loop(make_settings, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))
    gen = ProcessGenerator(make_settings(generation_timeout_s=1), broken, hang_grace_s=1.0)
    try:
        for _ in range(2):
            with pytest.raises(GeneratorError, match="could not load: OSError: no weights") as failure:
                gen.generate("q", PASSAGES)
            assert not isinstance(failure.value, GeneratorTimeout)  # the reply must not blame time
        assert gen.restarts == 0
    finally:
        gen.close()


def broken(settings):
    raise OSError("no weights")


def loads_until_it_crashed(settings):
    """Loads fine until a child crashed; after that the weights are 'gone' (moved by someone)
    until the file 'restored' appears."""
    if (settings.data_dir / "crashed-once").exists() and not (settings.data_dir / "restored").exists():
        raise OSError("weights moved")
    return ScriptedGenerator(settings)


def test_a_restarted_child_that_cannot_load_makes_the_instance_not_ready_until_it_can(make_settings, monkeypatch):
    from bot.observability.health import Readiness

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))
    readiness = Readiness(expected={"generator"})
    settings = make_settings(generation_timeout_s=1)
    gen = ProcessGenerator(settings, loads_until_it_crashed, readiness=readiness, hang_grace_s=1.0, reload_after_s=0.5)
    try:
        gen.warm_up()
        assert readiness.ready
        with pytest.raises(GeneratorError):
            gen.generate("crash", PASSAGES)  # the child dies; its replacement cannot load the model
        assert not readiness.ready and "weights moved" in readiness.snapshot()["failed"]["generator"]
        (settings.data_dir / "restored").touch()  # the files are back: a later question loads them, no restart
        time.sleep(0.6)
        assert gen.generate("q", PASSAGES).text.startswith("answer to q")
        assert readiness.ready and gen.restarts == 1
    finally:
        gen.close()


def test_a_child_that_dies_idle_is_replaced_at_once_and_readiness_follows(make_settings, monkeypatch):
    """The next asker used to wait for the model to load again; /ready said ready with no child."""
    from bot.observability.health import Readiness
    from bot.runtime import generator_process

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))
    monkeypatch.setattr(generator_process, "EAGER_RESTART_AFTER_S", 0.0)
    readiness = Readiness(expected={"generator"})
    gen = ProcessGenerator(make_settings(generation_timeout_s=1), scripted, readiness=readiness, hang_grace_s=1.0)
    try:
        gen.warm_up()
        first = gen.pid
        gen.kill_child()
        assert wait_until(lambda: gen.pid not in (None, first) and readiness.ready, timeout=60)
        assert gen.restarts == 1 and gen.generate("q", PASSAGES).text.startswith("answer to q")
    finally:
        gen.close()
