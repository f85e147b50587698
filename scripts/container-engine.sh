#!/usr/bin/env bash
# Give this machine a real container engine for fastflow's docker executor: Podman serving the
# Docker Engine API on a unix socket, plus a worker image built without any registry.
# See /work/shared/CONTAINER_ENGINE.md for why each step looks the way it does.
# Idempotent: a second call only checks and returns. Progress goes to stderr; the only line on
# stdout is DOCKER_HOST=..., so callers can do: export "$(scripts/container-engine.sh)".
set -euo pipefail

SOCK=/run/podman/podman.sock
IMAGE=fastflow-worker:local
LIB=/usr/local/lib/fastflow
LOGDIR=/var/log/fastflow
SERVICE_LOG=$LOGDIR/podman-service.log

# Keep the caller's stdout for the final line only; everything else (apt, podman) goes to stderr.
exec 3>&1 1>&2
log() { echo "container-engine: $*" >&2; }
die() { echo "container-engine: ERROR: $*" >&2; exit 1; }
ping_ok() { curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, runs rootful Podman)"
mkdir -p "$LIB" "$LOGDIR"

# 1. Packages. runc because crun refuses this machine's hybrid cgroup layout.
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing podman runc debootstrap (apt log: $LOGDIR/apt.log)"
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y podman runc debootstrap; } \
    >"$LOGDIR/apt.log" 2>&1 || { tail -n 20 "$LOGDIR/apt.log" >&2; die "apt-get failed"; }
fi

# 2. conmon 2.1.6 writes its OOM marker into its working directory while Podman looks in the
# bundle directory, so State.OOMKilled is never set; start conmon from the bundle directory.
WRAPPER=$LIB/conmon-wrapper
cat >"$WRAPPER.new" <<'EOF'
#!/bin/sh
# fastflow: run conmon from its bundle dir so its "oom" marker lands where Podman looks for it.
prev=
for a in "$@"; do
  case "$prev" in -b|--bundle) cd "$a" || exit 1 ;; esac
  case "$a" in --bundle=*) cd "${a#--bundle=}" || exit 1 ;; esac
  prev=$a
done
exec /usr/bin/conmon "$@"
EOF
chmod 755 "$WRAPPER.new" && mv -f "$WRAPPER.new" "$WRAPPER"

# 3. No CAP_SYS_RESOURCE here: default ulimits above the host's hard limits make every container
# fail with "setrlimit ... Operation not permitted", so cap them at the hard limits.
hn=$(ulimit -Hn); hu=$(ulimit -Hu)
nofile=$([ "$hn" = unlimited ] || [ "$hn" -gt 20000 ] && echo 20000 || echo "$hn")
nproc=$([ "$hu" = unlimited ] || [ "$hu" -gt 4096 ] && echo 4096 || echo "$hu")
mkdir -p /etc/containers
CONF=/etc/containers/containers.conf
cat >"$CONF.new" <<EOF
# Written by fastflow scripts/container-engine.sh (see CONTAINER_ENGINE.md).
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
conmon_path = ["$WRAPPER"]
EOF
if cmp -s "$CONF.new" "$CONF"; then rm -f "$CONF.new"; else
  [ -e "$CONF" ] && ! grep -q 'fastflow' "$CONF" && cp "$CONF" "$CONF.orig"   # keep a foreign file
  mv -f "$CONF.new" "$CONF"; log "wrote $CONF"
fi

# 4. Worker image, built from Debian packages because no registry can be reached.
if ! podman image exists "$IMAGE"; then
  t0=$SECONDS
  WORK=$(mktemp -d /var/tmp/fastflow-image.XXXXXX)
  # debootstrap may leave /proc etc. mounted if it fails; unmount before deleting anything.
  cleanup() {
    grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$WORK"
  }
  trap cleanup EXIT
  ROOTFS=$WORK/rootfs
  MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  log "building $IMAGE: debootstrap bookworm from $MIRROR (~1 min, log: $LOGDIR/debootstrap.log)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$ROOTFS" "$MIRROR" >"$LOGDIR/debootstrap.log" 2>&1 \
    || { tail -n 20 "$LOGDIR/debootstrap.log" >&2; die "debootstrap failed"; }

  # uv ships as a binary inside its PyPI wheel; pip honours this machine's index and proxy config.
  log "fetching uv from PyPI"
  (cd "$WORK" && python3 -m pip download uv --no-deps --only-binary=:all: -d "$WORK/whl") \
    >"$LOGDIR/pip.log" 2>&1 || { tail -n 20 "$LOGDIR/pip.log" >&2; die "pip download uv failed"; }
  unzip -q -j -o "$WORK"/whl/uv-*.whl '*.data/scripts/uv' -d "$ROOTFS/usr/local/bin" \
    || die "uv binary not found in wheel"
  chmod 755 "$ROOTFS/usr/local/bin/uv"

  # Downloads go through a TLS-intercepting proxy whose CA only the host's bundle trusts.
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

  log "importing $IMAGE"
  tar -C "$ROOTFS" -c . | podman import -q --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null \
    || die "podman import failed"
  cleanup; trap - EXIT
  log "built $IMAGE in $((SECONDS - t0)) s"
fi

# 5. API service. Started from / so no stray files land in the caller's directory, fully
# redirected (fd 3 included) so a caller capturing our stdout is not kept waiting on the pipe,
# and in its own session so the caller's terminal signals do not reach it.
if ! ping_ok; then
  log "starting podman system service on $SOCK (log: $SERVICE_LOG)"
  mkdir -p "$(dirname "$SOCK")"
  rm -f "$SOCK"   # a stale socket from a dead service would otherwise block the bind
  (cd / && exec setsid podman system service --time=0 "unix://$SOCK") \
    </dev/null >>"$SERVICE_LOG" 2>&1 3>&- &
  deadline=$((SECONDS + 30))
  until ping_ok; do
    [ "$SECONDS" -lt "$deadline" ] \
      || { tail -n 20 "$SERVICE_LOG" >&2; die "podman service did not answer on $SOCK within 30 s"; }
    sleep 0.5
  done
fi

log "ready"
echo "DOCKER_HOST=unix://$SOCK" >&3
