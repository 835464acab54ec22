"""Telling people: Slack and signed webhooks, delivered off the reconcile path."""
