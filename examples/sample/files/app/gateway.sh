#!/bin/sh
# Sample workload: a sensor gateway that records readings to its data volume.
# It also tries things its confinement forbids, to show the kernel refusing
# them and the refusal arriving as an alert:
#
# - every PROBE_EVERY rounds (default 10, one round a second) it tries to read
#   /etc/gateway/credentials, which its policy blocks;
# - whenever a file named `trigger` appears in its /data volume it tries the
#   same read at once and deletes the file (`scripts/start.sh` prints the host
#   path), so a person can cause a blocked action on demand;
# - at the end of a finite run (ROUNDS > 0) it also tries to write /etc/motd
#   (read-only root) and to run /usr/local/bin/fetch (not in its process
#   allow-list).
#
# ROUNDS=0 (the default) runs until stopped; SIGTERM ends it cleanly.
rounds=${ROUNDS:-0}
every=${PROBE_EVERY:-10}
trap 'echo "gateway: stopping"; exit 0' TERM INT
echo "gateway: up as uid $(id -u), hostname $(hostname)"

try_credentials() {
  # $1 says why; the read is refused by Landlock (policy gateway-protect-credentials).
  if out=$(cat /etc/gateway/credentials 2>&1); then
    echo "gateway: ($1) read /etc/gateway/credentials: NOT BLOCKED: $out"
  else
    echo "gateway: ($1) read /etc/gateway/credentials: $out"
  fi
}

i=1
while [ "$rounds" -eq 0 ] || [ "$i" -le "$rounds" ]; do
  reading="t=$(date +%s) temp=$((200 + i % 50))"
  # Every round is stored; one in ten is printed, to keep the log readable.
  echo "$reading" >> /data/readings.log && [ $((i % 10)) -eq 1 ] && echo "gateway: recorded [$reading] in /data/readings.log"
  if [ -e /data/trigger ]; then
    rm -f /data/trigger
    try_credentials "trigger file"
  elif [ "$every" -gt 0 ] && [ $((i % every)) -eq 0 ]; then
    try_credentials "every $every rounds"
  fi
  i=$((i + 1))
  # In the foreground: a background job would open /dev/null for its stdin every round.
  # SIGTERM is then handled when the sleep ends, within a second.
  sleep 1
done
echo "gateway: trying what the policy forbids:"
try_credentials "final"
( echo pwned > /etc/motd ) 2>&1 | sed 's/^/  write \/etc\/motd: /'
/usr/local/bin/fetch wget -q -O- http://127.0.0.1/ 2>&1 | sed 's/^/  exec \/usr\/local\/bin\/fetch: /'
echo "gateway: done; $(wc -l < /data/readings.log) readings stored"
