#!/bin/sh
# Sample workload: a sensor gateway that records readings to its data volume.
# It also tries three things its confinement forbids, to show the kernel
# refusing them. Runs ROUNDS rounds (default 3) then exits 0.
rounds=${ROUNDS:-3}
echo "gateway: up as uid $(id -u), hostname $(hostname)"
i=1
while [ "$i" -le "$rounds" ]; do
  reading="t=$(date +%s) temp=$((200 + i))"
  echo "$reading" >> /data/readings.log && echo "gateway: recorded [$reading] in /data/readings.log"
  i=$((i + 1))
  sleep 1
done
echo "gateway: trying what the policy forbids:"
cat /etc/gateway/credentials 2>&1 | sed 's/^/  read \/etc\/gateway\/credentials: /'
( echo pwned > /etc/motd ) 2>&1 | sed 's/^/  write \/etc\/motd: /'
/usr/local/bin/fetch wget -q -O- http://127.0.0.1/ 2>&1 | sed 's/^/  exec \/usr\/local\/bin\/fetch: /'
echo "gateway: done; $(wc -l < /data/readings.log) readings stored"
