"""A scalar or string answer is a reason, never an exception (found by fuzzing specs)."""

from __future__ import annotations

from typing import Any

import pytest

from prognos.metrics import MetricsError
from prognos.metrics.prometheus import PrometheusSource


@pytest.mark.parametrize(
    "answer",
    [[1764201600.0, "0"], [1764201600.0, "text"], [None], "vector", {"a": 1}],
)
def test_a_scalar_or_string_answer_is_invalid_response(answer: Any) -> None:
    source = PrometheusSource("http://127.0.0.1:9")
    source._client.custom_query = lambda *a, **k: answer
    with pytest.raises(MetricsError) as err:
        source.instant("0")
    assert err.value.reason == "InvalidResponse"
    assert "vector" in err.value.message
