"""One process-wide lock around every model load.

transformers builds models inside global "empty weights" contexts, so two threads loading
models at the same moment (say the embedder and the generator, warming up while the first
questions arrive) can fail with "Cannot copy out of meta tensor". Loads are rare and
short next to answering, so serializing them costs nothing that matters.
"""

from __future__ import annotations

import threading

MODEL_LOAD_LOCK = threading.RLock()
