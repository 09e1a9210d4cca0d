"""Taskstream: an event-sourced distributed task scheduler on Kafka."""

__version__ = "0.1.0"
