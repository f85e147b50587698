#!/bin/sh
# The fastflow image's entrypoint: `fastflow-entrypoint serve` (or `worker`, or any fastflow
# command). Started as root, it prepares what mounted volumes and the engine socket need and
# runs fastflow as the user `fastflow`; started as that user already, it only runs fastflow.
#   - DATA_DIR, LOGS_DIR and PIPELINES_DIR belong to `fastflow` (a new volume is root's);
#   - a mounted engine socket (DOCKER_HOST=unix://…, default /var/run/docker.sock): the user
#     joins the socket's group, so EXECUTOR=docker works without running fastflow as root;
#   - git accepts PIPELINES_DIR even where its owner differs (a host's bind mount);
#   - PIPELINES_REPO set and PIPELINES_DIR empty: the repository is cloned there on first
#     start (branch GIT_BRANCH); git sync updates it from then on.
set -eu

APP_USER=fastflow
DATA_DIR=${DATA_DIR:-/data}
LOGS_DIR=${LOGS_DIR:-$DATA_DIR/logs}
PIPELINES_DIR=${PIPELINES_DIR:-/pipelines}

if [ "$(id -u)" = 0 ]; then
  uid=$(id -u "$APP_USER")
  gid=$(id -g "$APP_USER")
  groups=$gid
  for dir in "$DATA_DIR" "$LOGS_DIR" "$PIPELINES_DIR"; do
    mkdir -p "$dir"
    # Only a folder that is not the user's yet: a big data volume is not walked every start.
    if [ "$(stat -c %u "$dir")" != "$uid" ]; then
      chown -R "$uid:$gid" "$dir"
    fi
  done
  case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
    unix://*)
      socket=${DOCKER_HOST:-unix:///var/run/docker.sock}
      socket=${socket#unix://}
      if [ -S "$socket" ]; then
        groups="$groups,$(stat -c %g "$socket")"
      fi
      ;;
  esac
  if ! git config --system --get-all safe.directory | grep -qxF "$PIPELINES_DIR"; then
    git config --system --add safe.directory "$PIPELINES_DIR"
  fi
  export HOME="$DATA_DIR"
  exec setpriv --reuid="$uid" --regid="$gid" --groups="$groups" --inh-caps=-all \
    -- "$0" "$@"
fi

if [ -n "${PIPELINES_REPO:-}" ] && [ ! -e "$PIPELINES_DIR/.git" ] \
    && [ -z "$(ls -A "$PIPELINES_DIR" 2>/dev/null)" ]; then
  echo "fastflow-entrypoint: cloning PIPELINES_REPO (branch ${GIT_BRANCH:-main}) into $PIPELINES_DIR" >&2
  git clone --quiet --branch "${GIT_BRANCH:-main}" -- "$PIPELINES_REPO" "$PIPELINES_DIR"
fi

exec fastflow "$@"
