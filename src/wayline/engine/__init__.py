"""The journey runtime: triggers enrol and resume customers, workers advance them."""
