"""Metrics: answer grading and the recovery metrics computed from the event log."""
