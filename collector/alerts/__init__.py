"""Alerts (issue #17): the rule model and file, and the alert state machine; evaluation comes later."""
