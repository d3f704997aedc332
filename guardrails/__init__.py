"""Checks on the way in (question) and on the way out (answer), each with an on-fail action."""
