"""Reusable constructs: each module plus the runtime folder it names can be copied alone."""
