"""Minimal apps the benchmarks compare the services with (run in a rendered venv)."""
