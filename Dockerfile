# syntax=docker/dockerfile:1
# Prognos operator image: `prognos run` as a non-root user, no build tools in the final stage.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/prognos
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Wheels only: prophet, statsforecast and numpy ship binary wheels, so no compiler is needed.
RUN /opt/prognos/bin/pip install --only-binary=:all: --no-compile . \
 && find /opt/prognos -name '__pycache__' -prune -exec rm -rf {} +

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 prognos \
 && useradd --system --uid 10001 --gid prognos --home-dir /tmp --shell /usr/sbin/nologin prognos
COPY --from=build /opt/prognos /opt/prognos
ENV PATH=/opt/prognos/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba
USER 10001:10001
EXPOSE 8080 8000 9095
ENTRYPOINT ["prognos", "run"]
