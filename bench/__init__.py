"""Benchmarks of capture-status: each prints its figures next to its goal and its baseline."""
