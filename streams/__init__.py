"""Stream processing: the scheduler agents and the worker runtime."""
