# syntax=docker/dockerfile:1

# --- builder: build the wheel and install it with its dependencies into a self-contained venv ---
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --upgrade pip setuptools wheel

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY handlers ./handlers
COPY storage ./storage
COPY migrations ./migrations

RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install /wheels/*.whl \
    && /opt/venv/bin/pip uninstall --yes pip setuptools wheel

# --- runtime: the venv only, run as an unprivileged user ---
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RELEASEBOT_DATA_DIR=/data \
    RELEASEBOT_HOST=0.0.0.0 \
    RELEASEBOT_PORT=3000

RUN groupadd --system --gid 10001 releasebot \
    && useradd --system --uid 10001 --gid releasebot --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin releasebot \
    && mkdir -p /data /app \
    && chown releasebot:releasebot /data

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
USER releasebot
VOLUME ["/data"]
EXPOSE 3000

# python:3.11-slim has no curl; the standard library is enough. urlopen raises on anything but 2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${RELEASEBOT_PORT:-3000}/healthz', timeout=4)" || exit 1

# Migrate, then serve; exec hands PID 1's signals (docker stop's SIGTERM) to the server itself.
CMD ["sh", "-c", "releasebot db upgrade && exec releasebot serve"]
