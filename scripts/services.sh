#!/usr/bin/env bash
# Starts the local services the integration tests use, when this machine has them installed
# and they are not running. Where a service is not installed, its tests skip locally (and
# fail under FASTFLOW_CI=1, so CI never passes by skipping).
set -uo pipefail

if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    echo "starting Redis" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp --logfile /tmp/fastflow-redis.log || true
fi
exit 0
