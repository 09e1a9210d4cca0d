"""The worker runtime: consume dispatched attempts, run their handlers, report the outcome."""
