import threading
import time

from guardrails.lazy import LoadOnce


def test_many_threads_build_the_object_once():
    calls = []

    def slow_factory():
        calls.append(1)
        time.sleep(0.05)
        return object()

    get = LoadOnce(slow_factory)
    results = []
    threads = [threading.Thread(target=lambda: results.append(get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1
