"""Staying up: bounded work with back-pressure, a restartable generator, retries, graceful shutdown."""
