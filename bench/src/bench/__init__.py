"""Benchmarks: each script reports figures and ratios; none asserts a time."""
