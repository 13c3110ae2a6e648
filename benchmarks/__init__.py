"""Benchmarks run by `make bench`: each module has main() and prints its own figures."""
