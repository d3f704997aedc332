"""Capture one real ``ragbot.questions`` log line from the serving pipeline (the example in docs/operations.md).

    RAGBOT_DATA_DIR=DIR .venv/bin/ragbot ingest examples/handbook
    RAGBOT_DATA_DIR=DIR .venv/bin/python benchmarks/question_log_line.py
"""
import io, json, logging, sys
from bot.settings import load_settings
from bot.factory import build_pipeline
from bot.runtime.wiring import install_serving_parts
from bot.turn import RequestContext

settings = load_settings().with_overrides({"generator_process": False})
pipeline = build_pipeline(settings)
install_serving_parts(pipeline, settings)
buffer = io.StringIO()
handler = logging.StreamHandler(buffer)
logging.getLogger("ragbot.questions").addHandler(handler)
logging.getLogger("ragbot.questions").setLevel(logging.INFO)
pipeline.run("How long is a VPN profile valid? I'm Jane Doe, jane.doe@example.com",
             RequestContext(user_id="U024BE7LH", channel_id="C0123ABCD", team_id="T0001"))
print(buffer.getvalue().strip().splitlines()[-1])
