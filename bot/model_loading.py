"""One process-wide lock around every model load.

transformers builds models inside global "empty weights" contexts, so two threads loading
models at the same moment (say the embedder and the generator, warming up while the first
questions arrive) can fail with "Cannot copy out of meta tensor". Loads are rare and
short next to answering, so serializing them costs nothing that matters.
"""

from __future__ import annotations

import threading

MODEL_LOAD_LOCK = threading.RLock()


def apply_torch_threads(threads: int | None) -> None:
    """Set torch's CPU thread count for this process (``None`` leaves torch's default).

    On a small machine shared with other jobs, one thread per process avoids the
    oversubscription that made two-thread embedding many times slower than one."""
    if threads is None:
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
