#!/usr/bin/env bash
# The README's main job: set up (idempotent), build the sample image from
# Debian's static busybox plus examples/sample/files, pin its digest into the
# sample manifest, and run the sample workload under full confinement.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh

say() { printf '\033[1m[start]\033[0m %s\n' "$*" >&2; }
export PALISADE_DATA_DIR=${PALISADE_DATA_DIR:-/var/lib/palisade}
work="$PALISADE_DATA_DIR/sample"
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

say "building the sample image"
digest=$(bin/palisade image build "$rootfs" --tag palisade/sample:1 --no-compress --quiet --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).digest))')
sed "s|palisade/sample@sha256:[0-9a-f]\{64\}|palisade/sample@$digest|" examples/sample/workload.yaml > "$work/workload.yaml"
say "image palisade/sample:1 is $digest"

say "what this kernel can enforce:"
bin/palisade probe | sed -n '/^BACKEND/,/^$/p' >&2

say "the policy, in plain words:"
bin/palisade policy explain "$work/workload.yaml" | tail -n 5 >&2

say "running the sample workload (Ctrl-C stops it)"
set +e
bin/palisade run "$work/workload.yaml" --name gateway
status=$?
set -e
say "the workload exited with status $status"
cat >&2 <<EOT

What happened: the gateway wrote its readings to its /data volume (allowed),
then tried to read /etc/gateway/credentials (blocked by policy: Landlock),
write /etc/motd (refused: read-only root) and run /usr/local/bin/fetch (not in the
process allow-list: Landlock). Look closer with:

  bin/palisade ps
  bin/palisade inspect gateway          # the effective confinement, per backend
  bin/palisade policy explain $work/workload.yaml
EOT
exit "$status"
