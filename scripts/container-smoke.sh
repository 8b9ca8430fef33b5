#!/usr/bin/env bash
# `npm run test:container`: build the Dockerfile with podman and run the image the way compose.yaml and the Helm
# chart do — read-only root file system, uid 1000, master key from a mounted secret file, PostgreSQL from PG* env, a
# writable volume for the bootstrap admin key — then check /readyz, one chat completion, the image's HEALTHCHECK and
# a clean SIGTERM exit. Needs podman (Debian: apt-get install podman runc) and PostgreSQL on 127.0.0.1:5432.
#
# Base images cannot be pulled on a machine without registry access: PCL_NODE_IMAGE=local (the default when
# node:24-bookworm-slim is not present) builds a minimal base from this machine instead — the project's Node 24
# binary (node_modules/node), the C libraries it links, npm, /bin/sh and the CA bundle.
set -euo pipefail
cd "$(dirname "$0")/.."

PODMAN=(podman)
# cgroup v1/hybrid machines without systemd (CI sandboxes): crun refuses them; runc on cgroupfs works. The
# rlimits stay within the sandbox's own (podman's defaults exceed them).
if [[ "$(podman info --format '{{.Host.CgroupsVersion}}')" == v1 ]]; then
  PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
fi
LIMITS=(--ulimit nofile=20000:20000 --ulimit nproc=4096:4096)
NODE_IMAGE="${PCL_NODE_IMAGE:-node:24-bookworm-slim}"
TAG=localhost/portcullis:smoke
WORK="$(mktemp -d /var/tmp/pcl-smoke-XXXXXX)"
DB="pcl_smoke_$(date +%s)"
PORT="${PCL_SMOKE_PORT:-18098}"
cleanup() {
  "${PODMAN[@]}" rm -f pcl-smoke >/dev/null 2>&1 || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ "$NODE_IMAGE" == local ]] || ! "${PODMAN[@]}" image exists "$NODE_IMAGE"; then
  echo "== base image from this machine (no registry access)"
  R="$WORK/rootfs"
  mkdir -p "$R/usr/local/bin" "$R/usr/local/lib/node_modules" "$R/bin" "$R/usr/bin" "$R/etc/ssl/certs" "$R/tmp" "$R/home/node"
  chmod 1777 "$R/tmp"
  cp node_modules/node/bin/node "$R/usr/local/bin/node"
  cp -a "$(dirname "$(readlink -f "$(command -v npm)")")/.." "$R/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
  cp /usr/bin/dash "$R/bin/sh"
  cp /usr/bin/env "$R/usr/bin/env"
  for lib in $(ldd node_modules/node/bin/node /usr/bin/dash /usr/bin/env | grep -o '/lib[^ ]*' | sort -u); do
    mkdir -p "$R$(dirname "$lib")"
    cp -L "$lib" "$R$lib"
  done
  cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n' >"$R/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' >"$R/etc/group"
  NODE_IMAGE=localhost/pcl-node24-base:local
  # NODE_EXTRA_CA_CERTS: this machine's CA bundle (it may hold a TLS-inspecting proxy's CA) for npm in the build.
  tar -C "$R" -c . | "${PODMAN[@]}" import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' - "$NODE_IMAGE" >/dev/null
fi

echo "== build (FROM $NODE_IMAGE)"
"${PODMAN[@]}" build --format docker "${LIMITS[@]}" --network host --build-arg "NODE_IMAGE=$NODE_IMAGE" -t "$TAG" . >"$WORK/build.log" 2>&1 ||
  { tail -30 "$WORK/build.log"; exit 1; }

echo "== run: read-only root, uid 1000, master key as a 0400 secret file, PostgreSQL from PG* env"
mkdir -p "$WORK/data"
head -c 32 /dev/urandom | base64 >"$WORK/master.key"
chown 1000:1000 "$WORK/master.key" "$WORK/data"
chmod 400 "$WORK/master.key"
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB"
"${PODMAN[@]}" run -d --name pcl-smoke "${LIMITS[@]}" --read-only --tmpfs /tmp \
  --network slirp4netns:allow_host_loopback=true -p "127.0.0.1:$PORT:8080" \
  -e PGHOST=10.0.2.2 -e PGUSER=postgres -e "PGDATABASE=$DB" \
  -v "$WORK/master.key:/run/secrets/portcullis-master-key:ro" -v "$WORK/data:/var/lib/portcullis" "$TAG" >/dev/null

for _ in $(seq 1 120); do
  [[ "$(curl -s -m 2 "127.0.0.1:$PORT/readyz" || true)" == *ready* ]] && break
  sleep 0.5
done
curl -sf -m 5 "127.0.0.1:$PORT/readyz" >/dev/null || { "${PODMAN[@]}" logs pcl-smoke | tail -20; echo "FAIL: /readyz"; exit 1; }
echo "ok: /readyz"
KEY="$(cat "$WORK/data/admin.key")"
ANSWER="$(curl -sf -m 10 "127.0.0.1:$PORT/v1/chat/completions" -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"smoke from a container"}]}')"
[[ "$ANSWER" == *"smoke from a container"* ]] || { echo "FAIL: chat completion: $ANSWER"; exit 1; }
echo "ok: chat completion with the bootstrap admin key from the volume"
"${PODMAN[@]}" healthcheck run pcl-smoke 2>/dev/null && echo "ok: HEALTHCHECK" || { echo "FAIL: HEALTHCHECK"; exit 1; }
if "${PODMAN[@]}" exec pcl-smoke node -e 'require("fs").writeFileSync("/app/probe", "x")' 2>/dev/null; then
  echo "FAIL: the root file system is writable"; exit 1
fi
echo "ok: root file system is read-only"
[[ "$("${PODMAN[@]}" exec pcl-smoke node -p 'process.getuid()')" == 1000 ]] && echo "ok: runs as uid 1000"
"${PODMAN[@]}" stop -t 60 pcl-smoke >/dev/null 2>&1
CODE="$("${PODMAN[@]}" inspect pcl-smoke --format '{{.State.ExitCode}}')"
[[ "$CODE" == 0 ]] || { "${PODMAN[@]}" logs pcl-smoke | tail -20; echo "FAIL: exit code $CODE after SIGTERM"; exit 1; }
echo "ok: SIGTERM -> exit 0"
echo "PASS: image $TAG"
