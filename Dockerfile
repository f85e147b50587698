# fastflow server and worker image: every extra installed, dependencies exactly as in uv.lock,
# runs as the unprivileged user `fastflow` (uid 10001).
#   Build: docker build -t fastflow .
#   Run:   see compose.yaml and docs/deployment.md
# BASE_IMAGE: any Debian bookworm image with Python 3.11+ (python:3.12-slim-bookworm by
# default); uv is installed from PyPI when the image has none. CI builds from a local image
# because no registry can be reached there.
ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PYTHON=python3 \
    UV_SYSTEM_CERTS=1 UV_PROJECT_ENVIRONMENT=/app/.venv
RUN (command -v uv >/dev/null 2>&1 || python3 -m pip install --no-cache-dir --root-user-action=ignore "uv>=0.9") \
    && cp "$(command -v uv)" /uv
WORKDIR /src
# The dependencies, exactly as locked, into /app/.venv: cached while uv.lock is unchanged.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --extra all --no-install-project
# fastflow itself as a wheel, installed into the final image on its own layer.
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv build --wheel --out-dir /dist

FROM ${BASE_IMAGE}
# git: pipelines from a repository (git sync); tini: signals reach the server, zombies reaped;
# postgresql-client-15: pg_dump/pg_restore for `fastflow backup` of a PostgreSQL database
# (the same major version as compose.yaml's server); util-linux: setpriv (the entrypoint).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        git tini postgresql-client-15 util-linux ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 fastflow \
    && useradd --uid 10001 --gid fastflow --no-create-home --home-dir /data --shell /usr/sbin/nologin fastflow \
    && mkdir -p /data /pipelines \
    && chown fastflow:fastflow /data /pipelines \
    && git config --system --add safe.directory /pipelines
# The dependencies, then fastflow (a code change rebuilds only these last, small layers; the
# wheel is copied, not mounted, so that its content decides whether the install reruns).
COPY --from=build /app/.venv /app/.venv
COPY --from=build /dist /tmp/dist
RUN --mount=type=bind,from=build,source=/uv,target=/usr/local/bin/uv-build \
    uv-build pip install --offline --no-cache --no-deps --compile-bytecode \
        --python /app/.venv/bin/python /tmp/dist/fastflow-*.whl \
    && rm -rf /tmp/dist
COPY deploy/entrypoint.sh /usr/local/bin/fastflow-entrypoint
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FASTFLOW_HOST=0.0.0.0 \
    FASTFLOW_PORT=8000 \
    DATA_DIR=/data \
    LOGS_DIR=/data/logs \
    PIPELINES_DIR=/pipelines \
    LOG_FORMAT=json
# Started as root only to prepare mounted volumes and the engine socket (see the entrypoint),
# then fastflow itself runs as `fastflow`. `--user 10001` works too: the entrypoint then
# skips the preparation.
WORKDIR /data
VOLUME ["/data", "/pipelines"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python3", "-c", "import os,urllib.request,sys; sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"FASTFLOW_PORT\", \"8000\")}/health').status != 200)"]
ENTRYPOINT ["tini", "--", "fastflow-entrypoint"]
CMD ["serve"]
