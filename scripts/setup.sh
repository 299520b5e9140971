#!/usr/bin/env bash
# Installs everything Palisade needs on a Debian 12 machine, idempotently:
# Debian packages (only the missing ones), npm packages (only when the lock
# changed), the native launcher and BPF objects, and the TypeScript build.
# Safe to run any number of times; the README's commands call it first.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf 'palisade setup: %s\n' "$*" >&2; exit 3; }

[ "$(uname -s)" = "Linux" ] || die "Palisade needs Linux (this is $(uname -s)); run it on a Linux 6.x machine or VM"
[ "$(id -u)" = "0" ] || die "must run as root (uid 0; you are $(id -un)): Palisade creates namespaces, cgroups and loads kernel policy. Try: sudo bash $0"
command -v node >/dev/null || die "Node.js 20 or newer is not installed; install it (e.g. apt-get install nodejs) and rerun"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old; Palisade needs Node 20 or newer"

# Debian packages: what each is for is in docs/install.md.
DEB_PACKAGES=(
  runc            # the OCI runtime
  gcc libc6-dev make linux-libc-dev  # builds the native launcher
  libseccomp-dev  # seccomp filter compilation in the launcher
  clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool  # BPF programs (cgroup device/connect, tracepoints)
  busybox-static  # sample and test images are built from it (no registry needed)
  nftables iproute2  # per-workload network namespaces and egress rules
  auditd          # auditctl: enables kernel audit so Landlock denials are reported
  apparmor        # apparmor_parser, to validate generated AppArmor profiles
  strace          # tests check that the native code makes only its listed privileged syscalls
  wrk             # load generator for the real-server benchmark (bench/)
)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed; check the network and /etc/apt/sources.list"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed; see the output above"
else
  say "Debian packages: all present"
fi

# npm packages, reinstalled only when package-lock.json changed.
stamp=node_modules/.palisade-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # `npm install` honours the lock; `npm ci` is not used because npm 11 with
  # omit-lockfile-registry-resolved misreads rollup's optional platform packages.
  say "installing npm packages"
  npm install --no-audit --no-fund --loglevel=error >&2 || die "npm install failed; see the output above"
  echo "$want" > "$stamp"
else
  say "npm packages: up to date"
fi

# Native code is always built from source with the system toolchain; make is incremental.
if [ -f src/native/Makefile ]; then
  say "building native code"
  make -s -C src/native OUT="$root/build/native" >&2 || die "building src/native failed; see the compiler output above"
fi

say "building TypeScript"
npx tsc -p tsconfig.build.json || die "TypeScript build failed; see the errors above"
say "ready"
