"""Prognos: an AIOps self-healing operator for Kubernetes.

Forecasts load from Prometheus, scales workloads ahead of demand, detects anomalies and applies
guarded remediations, recording every action as an ``Incident`` and telling people about it.
"""

__version__ = "0.1.0"
