#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the shared-study tuning test (tests/tuning/test_tuning_postgres.py).
#
#   url=$(bash .ci/postgres.sh) && export MIA_TEST_POSTGRES_URL="$url"
#
# Installs PostgreSQL with apt-get when it is missing (as root), creates a cluster in a fresh temp
# folder (owned by the `postgres` user when run as root: initdb refuses to run as root), starts it
# on a free port, creates user `mia` with a random password and database `mia`, and prints the
# SQLAlchemy URL on stdout (everything else goes to stderr). `bash <cluster>/stop.sh` stops it and
# deletes the cluster. MIA_PG_NO_INSTALL=1: fail instead of installing; MIA_PG_PORT: a fixed port.
# The URL names the driver, postgresql+psycopg2://: SQLAlchemy 2.x maps a bare postgresql:// to
# psycopg 3, while the project's `postgres` extra installs psycopg2-binary.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  local d
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"; return 0
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

if ! BIN=$(find_bindir); then
  if [ -n "${MIA_PG_NO_INSTALL:-}" ]; then
    log "PostgreSQL is not installed (and MIA_PG_NO_INSTALL is set)"; exit 1
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "PostgreSQL is not installed and cannot be installed here (needs root and apt-get)"; exit 1
  fi
  log "installing PostgreSQL with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
  BIN=$(find_bindir) || { log "PostgreSQL binaries not found after installing"; exit 1; }
fi

# run a command as the cluster's owner: `postgres` when we are root, ourselves otherwise
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

PORT=${MIA_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/mia-pg.XXXXXX")
PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))' 2>/dev/null || echo "mia-$RANDOM$RANDOM")
[ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
chmod 700 "$DIR"

# local socket: trust (setup only); TCP: password
PSQL="$BIN/psql"
[ -x "$PSQL" ] || PSQL=$(command -v psql) || { log "psql not found"; exit 1; }
# a failure after the server started must not leave it running
started=0
cleanup() { [ "$started" = 1 ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" stop -m fast >&2 || true; }
trap 'cleanup' ERR

as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c max_connections=100 -c fsync=off" start >&2 \
  || { cat "$DIR/server.log" >&2; exit 1; }
started=1

as_owner "$PSQL" -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q >&2 <<SQL
CREATE USER mia WITH PASSWORD '$PASSWORD';
CREATE DATABASE mia OWNER mia;
SQL
trap - ERR

STOP="$BIN/pg_ctl -D $DIR/data stop -m fast"
[ "$(id -u)" -eq 0 ] && STOP="runuser -u postgres -- $STOP"
printf '#!/usr/bin/env bash\n%s >/dev/null && rm -rf %s\n' "$STOP" "$DIR" >"$DIR/stop.sh"
log "server on 127.0.0.1:$PORT, cluster=$DIR; stop and delete it with: bash $DIR/stop.sh"
echo "postgresql+psycopg2://mia:$PASSWORD@127.0.0.1:$PORT/mia"
