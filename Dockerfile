# fastflow server image: non-root, dependencies from uv.lock, no build tools in the final stage.
# Build: docker build -t fastflow .    Run: see compose.yaml and docs/deployment.md
FROM ghcr.io/astral-sh/uv:0.9-python3.12-bookworm-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# Dependencies first (cached while only the code changes), exactly as locked.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

FROM python:3.12-slim-bookworm
# git: pipelines from a repository (git sync); tini: signals reach the server, zombies reaped.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 fastflow \
    && useradd --system --uid 10001 --gid fastflow --home-dir /data --shell /usr/sbin/nologin fastflow \
    && mkdir -p /data /pipelines \
    && chown fastflow:fastflow /data /pipelines
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FASTFLOW_HOST=0.0.0.0 \
    FASTFLOW_PORT=8000 \
    DATA_DIR=/data \
    LOGS_DIR=/data/logs \
    PIPELINES_DIR=/pipelines \
    UV_CACHE_DIR=/data/uv_cache \
    LOG_FORMAT=json
USER fastflow
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"]
ENTRYPOINT ["tini", "--", "fastflow"]
CMD ["serve"]
