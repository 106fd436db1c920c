"""Benchmarks (`make bench`): figures printed, targets checked; not part of the unit tests."""
