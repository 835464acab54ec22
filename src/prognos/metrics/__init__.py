"""Prometheus access: instant and range reads that either return clean data or say why not."""

from prognos.metrics.prometheus import MetricsError, PrometheusSource, Sample

__all__ = ["MetricsError", "PrometheusSource", "Sample"]
