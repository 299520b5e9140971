#!/usr/bin/env bash
# The README's main job: a hub, one local agent enrolled in it, and the
# sample workload (examples/sample) signed, pushed, deployed to that agent and
# run confined by its policy. The workload tries a blocked action every 10 s
# (and on demand, see the guide printed at the end); the kernel refuses it and
# the refusal arrives at the hub as an alert.
#
#   bash scripts/start.sh            set up, start everything, print a guide, stream logs; Ctrl-C stops it all
#   bash scripts/start.sh --check    the same, but exit 0 as soon as a blocked-action alert reached the hub
#                                    (1 if none within START_CHECK_TIMEOUT seconds, default 90)
#
# Everything lives in one demo data directory, PALISADE_DATA_DIR (default
# /var/lib/palisade-demo): the hub's SQLite database, the device's state, the
# image store, the workload's volumes, logs/ and the CLI login (config/).
# Re-running resets it (the image store is kept): the previous demo's hub,
# device and workloads are gone. A directory that is not a demo directory
# (no .palisade-demo marker) is never reset.
# START_HUB_PORT picks the hub's port (default 8443; busy or 0 → any free one);
# START_NONINTERACTIVE=1 is --check.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: bash scripts/start.sh [--check]" >&2; exit 2 ;;
esac
[ "${START_NONINTERACTIVE:-0}" = 1 ] && check=1

# START_SKIP_SETUP=1: for callers that just ran setup.sh themselves (the end-to-end test).
[ "${START_SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh

say() { printf '\033[1m[start]\033[0m %s\n' "$*" >&2; }
die() { printf 'palisade start: %s\n' "$*" >&2; exit 1; }

data=${PALISADE_DATA_DIR:-/var/lib/palisade-demo}
data=$(realpath -m "$data")
export PALISADE_DATA_DIR="$data"
export PALISADE_CONFIG_DIR="$data/config"
palisade() { "$root/bin/palisade" "$@"; }
# Background processes are started as bin/palisade itself (not through the function) so their pid is the real process.
bin="$root/bin/palisade"

# --- 1. a clean demo directory ------------------------------------------------
if [ -d "$data" ] && [ -n "$(ls -A "$data" 2>/dev/null)" ] && [ ! -f "$data/.palisade-demo" ]; then
  die "$data is not empty and is not a demo directory (no .palisade-demo in it); I will not reset it. Set PALISADE_DATA_DIR to a new or demo directory."
fi
if [ -f "$data/demo.pid" ] && kill -0 "$(cat "$data/demo.pid")" 2>/dev/null; then
  die "a demo is already running from $data (pid $(cat "$data/demo.pid")); stop it with Ctrl-C in its terminal (or: kill $(cat "$data/demo.pid")), or use another PALISADE_DATA_DIR"
fi
if [ -f "$data/.palisade-demo" ]; then
  say "resetting the previous demo in $data (hub database, device state, workloads; the image store is kept)"
  # Leftovers of a demo that did not stop cleanly: its agent, then its containers (their supervisors end with them).
  if [ -f "$data/agent/agent.pid" ]; then
    old=$(cat "$data/agent/agent.pid")
    if tr '\0' ' ' < "/proc/$old/cmdline" 2>/dev/null | grep -q " agent "; then kill "$old" 2>/dev/null || true; sleep 1; fi
  fi
  if [ -d "$data/runc" ]; then
    for id in $(runc --root "$data/runc" list -q 2>/dev/null); do runc --root "$data/runc" delete --force "$id" >/dev/null 2>&1 || true; done
  fi
  { findmnt -rn -o TARGET | grep -F "$data/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done; } || true
  rm -rf "$data/hub.sqlite" "$data/hub.sqlite-wal" "$data/hub.sqlite-shm" "$data/agent" "$data/workloads" "$data/volumes" \
    "$data/persistent" "$data/events.db" "$data/events.db-wal" "$data/events.db-shm" "$data/config" "$data/logs" "$data/sample" "$data/demo.env"
fi
# Workloads run in user namespaces: their root must be able to traverse the data directory.
mkdir -p "$data" && chmod 755 "$data" && touch "$data/.palisade-demo"
mkdir -p -m 700 "$data/logs" "$data/config"
echo $$ > "$data/demo.pid"

# --- 2. the sample image ------------------------------------------------------
work="$data/sample"
rootfs="$work/rootfs"
rm -rf "$rootfs" && mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,data}
# A minimal rootfs: busybox and its applets, the sample's files, a passwd file.
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
cp -r examples/sample/files/. "$rootfs/"
# A second program the policy does not allow (its own inode: the busybox
# applets are symlinks to one binary, which Landlock sees as one file).
mkdir -p "$rootfs/usr/local/bin" && cp /bin/busybox "$rootfs/usr/local/bin/fetch"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
echo gateway > "$rootfs/etc/hostname"
echo "welcome to the gateway" > "$rootfs/etc/motd"
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(eval(process.argv[1]))})' "$1"; }

say "building the sample image"
digest=$(palisade image build "$rootfs" --tag palisade/sample:1 --no-compress --quiet --json | json 'v.digest')
sed "s|palisade/sample@sha256:[0-9a-f]\{64\}|palisade/sample@$digest|" examples/sample/workload.yaml > "$work/workload.yaml"
say "image palisade/sample:1 is $digest"

# --- 3. the hub ---------------------------------------------------------------
pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  say "stopping: agent, workload, hub"
  if [ -n "${agent_pid:-}" ]; then kill -TERM "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; fi
  # With the agent gone nothing restarts the workload; stop it so the demo leaves nothing running.
  palisade stop default/gateway --time 3 >/dev/null 2>&1
  if [ -n "${hub_pid:-}" ]; then kill -TERM "$hub_pid" 2>/dev/null; wait "$hub_pid" 2>/dev/null; fi
  for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
  rm -f "$data/demo.pid"
  say "stopped; everything is kept in $data until the next start"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

db="sqlite:$data/hub.sqlite"
admin=$(palisade hub init --db "$db" --org demo --json | json 'v.token')
port=${START_HUB_PORT:-8443}
if ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; then
  say "port $port is busy; the hub takes any free port"
  port=0
fi
"$bin" hub --db "$db" --listen "127.0.0.1:$port" --log-level warn >"$data/logs/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 1 100); do
  url=$(grep -o 'listening on http://[0-9.:]*' "$data/logs/hub.log" 2>/dev/null | head -1 | cut -d' ' -f3 || true)
  [ -n "$url" ] && break
  kill -0 "$hub_pid" 2>/dev/null || { cat "$data/logs/hub.log" >&2; die "the hub did not start (log above)"; }
  sleep 0.2
done
[ -n "$url" ] || die "the hub did not say where it listens; see $data/logs/hub.log"
say "hub at $url (SQLite $data/hub.sqlite)"
(tail -n +1 -F "$data/logs/hub.log" 2>/dev/null | sed -u 's/^/[hub]     /' >&2) &
pids+=($!)

# --- 4. the fleet: login, publisher key, enrollment -----------------------------
palisade login --hub "$url" --token "$admin" --context demo >/dev/null
palisade publisher create demo >/dev/null
palisade publisher key create demo --out "$data/config/demo-publisher.key" >/dev/null
enroll=$(palisade enrollment-token create --uses 1 --expires 1h --labels demo=yes --json | json 'v.token')
say "logged in as the demo org's admin; publisher key in $data/config/demo-publisher.key"

# --- 5. the device ------------------------------------------------------------
"$bin" agent --data-dir "$data" --hub "$url" --token "$enroll" --poll 2s --stop-grace 3s --max-restart-delay 5s >"$data/logs/agent.log" 2>&1 &
agent_pid=$!
(tail -n +1 -F "$data/logs/agent.log" 2>/dev/null | sed -u 's/^/[agent]   /' >&2) &
pids+=($!)
for _ in $(seq 1 150); do
  grep -q "agent ready" "$data/logs/agent.log" 2>/dev/null && break
  kill -0 "$agent_pid" 2>/dev/null || die "the agent exited; see $data/logs/agent.log"
  sleep 0.2
done
node_id=$(grep -o 'node=node_[A-Za-z0-9_-]*' "$data/logs/agent.log" | head -1 | cut -d= -f2)
[ -n "$node_id" ] || die "the agent did not enroll; see $data/logs/agent.log"

# --- 6. sign, push, deploy ----------------------------------------------------
palisade workload sign "$work/workload.yaml" --key "$data/config/demo-publisher.key" --version 1 -o "$work/gateway-1.json" >/dev/null
bundle=$(palisade workload push "$work/gateway-1.json" --json | json 'v.digest')
palisade deploy gateway --bundle "$bundle" --selector demo=yes >/dev/null
say "signed, pushed and deployed the gateway (bundle $bundle) to node $node_id"
instance_log="$data/agent/instances/gateway.log"
(tail -n +1 -F "$instance_log" 2>/dev/null | sed -u 's/^/[gateway] /' >&2) &
pids+=($!)

running=0
for _ in $(seq 1 90); do
  n=$(palisade status --json 2>/dev/null | json '(v.deployments.find(d=>d.name==="gateway")?.states.running)??0' || echo 0)
  if [ "$n" -ge 1 ] 2>/dev/null; then running=1; break; fi
  kill -0 "$agent_pid" 2>/dev/null || die "the agent exited; see $data/logs/agent.log"
  sleep 1
done
[ "$running" = 1 ] || die "the gateway is not running after 90 s; see palisade node describe $node_id and $instance_log"

cat > "$data/demo.env" <<EOT
# source me: the demo's hub login, data directory and the palisade command
export PALISADE_CONFIG_DIR="$data/config" PALISADE_DATA_DIR="$data" PATH="$root/bin:\$PATH"
EOT
trigger="$data/volumes/default.gateway/data/trigger"
logs_line=""
if palisade --help 2>/dev/null | grep -q '^ *logs '; then
  logs_line="  palisade logs --type alert                    # the same alerts, from this device's local store ($data/events.db)"
fi
cat >&2 <<EOT

$(printf '\033[1m')The gateway runs confined on node $node_id, deployed from hub $url.$(printf '\033[0m')
It stores a reading a second in its /data volume (allowed) and every 10 s
tries to read /etc/gateway/credentials, which policy gateway-protect-credentials
blocks: Landlock refuses it in the kernel, the agent's sensor sees the refusal
and sends the hub an alert.

In another terminal:
  . $data/demo.env                  # login, data dir, PATH
  touch $trigger
                                                # trigger the blocked read now (the gateway checks every second)
  palisade alerts --kernel                      # the blocked reads, at the hub
  palisade alerts --kernel --follow             # ... as they arrive
$logs_line
  palisade status                               # the fleet: nodes, deployments, workload states
  palisade node describe $node_id
  palisade ps; palisade inspect gateway         # the device's view: the confinement, per backend

Logs: hub $data/logs/hub.log, agent $data/logs/agent.log, workload $instance_log
(all streamed below, prefixed). Ctrl-C stops the agent, the workload and the hub.

EOT

if [ "$check" = 1 ]; then
  # Do not wait for the periodic attempt: the trigger file is what a person would use.
  touch "$trigger" 2>/dev/null || true
  timeout=${START_CHECK_TIMEOUT:-90}
  for _ in $(seq 1 "$timeout"); do
    hit=$(palisade alerts --kernel --last 0 --json 2>/dev/null | json 'v.filter(a=>a.alert.PolicyName==="gateway-protect-credentials").length' || echo 0)
    if [ "$hit" -ge 1 ] 2>/dev/null; then
      say "check passed: a blocked-action alert reached the hub:"
      palisade alerts --kernel --last 3 >&2
      exit 0
    fi
    sleep 1
  done
  say "check FAILED: no alert for the blocked read reached the hub within $timeout s"
  exit 1
fi
wait "$agent_pid" "$hub_pid"
