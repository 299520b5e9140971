#!/usr/bin/env bash
# A PostgreSQL 15 server for the hub's tests (and local development), set up
# idempotently on Debian 12: installs the package if missing, creates and
# starts the "15 main" cluster on 127.0.0.1, creates a role and a database,
# and prints the connection URL on stdout (and nothing else on stdout).
#
#   export PALISADE_TEST_POSTGRES_URL=$(bash scripts/postgres.sh)
#
# The role gets CREATEDB because the test suite creates one throw-away
# database per test file. Override names with PALISADE_PG_USER,
# PALISADE_PG_PASSWORD, PALISADE_PG_DB. Needs root (apt-get, pg_ctlcluster).
set -euo pipefail

user=${PALISADE_PG_USER:-palisade}
password=${PALISADE_PG_PASSWORD:-palisade}
db=${PALISADE_PG_DB:-palisade_test}
version=15
cluster=main

say() { printf '\033[1m[postgres]\033[0m %s\n' "$*" >&2; }
die() { printf 'scripts/postgres.sh: %s\n' "$*" >&2; exit 3; }

[ "$(id -u)" = "0" ] || die "must run as root (installs packages and starts the cluster); try: sudo bash $0"
[[ "$user" =~ ^[a-z_][a-z0-9_]*$ && "$db" =~ ^[a-z_][a-z0-9_]*$ ]] || die "PALISADE_PG_USER and PALISADE_PG_DB must be plain lower-case identifiers"
[[ "$password" != *"'"* ]] || die "PALISADE_PG_PASSWORD must not contain a single quote"

if ! dpkg-query -W -f='${Status}' "postgresql-$version" 2>/dev/null | grep -q "install ok installed"; then
  say "installing postgresql-$version"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed; check the network"
  apt-get install -y -qq --no-install-recommends "postgresql-$version" >&2 || die "apt-get install postgresql-$version failed"
fi

if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$version $cluster"; then
  say "creating cluster $version/$cluster"
  pg_createcluster "$version" "$cluster" >&2 || die "pg_createcluster $version $cluster failed"
fi

# Listen on loopback only: this server is for tests.
conf=/etc/postgresql/$version/$cluster/conf.d/palisade.conf
if [ ! -f "$conf" ]; then
  mkdir -p "$(dirname "$conf")"
  printf "# written by palisade scripts/postgres.sh\nlisten_addresses = '127.0.0.1'\n" > "$conf"
fi

status=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $4}')
if [ "$status" != "online" ]; then
  say "starting cluster $version/$cluster"
  pg_ctlcluster "$version" "$cluster" start >&2 || die "pg_ctlcluster $version $cluster start failed; see /var/log/postgresql/postgresql-$version-$cluster.log"
fi
port=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $3}')

# Wait until it accepts connections (a fresh start takes a moment).
for _ in $(seq 1 30); do
  runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 1
done
runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$port" || die "the server on port $port does not accept connections"

psql_admin() { runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@"; }

if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$user'")" != "1" ]; then
  say "creating role $user"
  psql_admin -c "CREATE ROLE $user LOGIN CREATEDB PASSWORD '$password'" >&2
else
  psql_admin -c "ALTER ROLE $user LOGIN CREATEDB PASSWORD '$password'" >&2
fi
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != "1" ]; then
  say "creating database $db"
  psql_admin -c "CREATE DATABASE $db OWNER $user" >&2
fi

say "ready on 127.0.0.1:$port"
echo "postgres://$user:$password@127.0.0.1:$port/$db"
