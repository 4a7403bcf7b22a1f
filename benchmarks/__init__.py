"""Benchmarks of seqattn: run ``python -m benchmarks``."""
