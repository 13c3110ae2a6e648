"""Integration tests: one app per pattern, deployed into a sandbox account by `make integ`."""
