"""Where the experiment scripts find the repository, the shared data and their scratch folder."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "..", "shared", "data")
SCRATCH = os.environ.get("SCRATCH", "/tmp/ragbot-exp")
os.makedirs(SCRATCH, exist_ok=True)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
