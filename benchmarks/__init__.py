"""Reproducible benchmarks of the template and of the services it generates."""
