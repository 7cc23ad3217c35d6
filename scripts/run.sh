#!/usr/bin/env bash
# The whole Pulse stack on loopback, no Docker: installs missing apt
# packages, builds, migrates data/pulse.db to head, seeds a demo
# organisation (only into an empty database), starts the schema service
# (127.0.0.1:50051) and the org-data service (127.0.0.1:50052) in the
# foreground and draws the top of the org. Ctrl-C stops both cleanly.
# Running it again reuses the database: no re-seed, no error.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BIN=${BUILD_DIR:-build}/services
export PULSE_DB=${PULSE_DB:-data/pulse.db}
export PULSE_MIGRATIONS=${PULSE_MIGRATIONS:-migrations}
# A fresh random admin token unless one is given; printed below.
export PULSE_ADMIN_TOKEN=${PULSE_ADMIN_TOKEN:-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')}
SCHEMA_ADDR=127.0.0.1:${SCHEMA_PORT:-50051}
ORG_ADDR=127.0.0.1:${ORGDATA_PORT:-50052}
mkdir -p "$(dirname "$PULSE_DB")"

"$BIN/schema/pulse-schema" upgrade head
"$BIN/orgdata/pulse-orgdata" seed --if_empty --employees="${PULSE_DEMO_EMPLOYEES:-3000}"

pids=()
stop() {
  trap - INT TERM
  echo "stopping..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  echo "stopped"
}
trap 'stop; exit 0' INT TERM

"$BIN/schema/pulse-schema" serve --listen="$SCHEMA_ADDR" \
  > >(sed -u 's/^/[schema]  /') 2>&1 &
pids+=($!)
"$BIN/orgdata/pulse-orgdata" serve --listen="$ORG_ADDR" --schema_addr="$SCHEMA_ADDR" \
  > >(sed -u 's/^/[orgdata] /') 2>&1 &
pids+=($!)

# Wait (bounded) until both answer their health checks.
for addr in "$SCHEMA_ADDR" "$ORG_ADDR"; do
  for _ in $(seq 1 100); do
    "$BIN/client/pulse" health "$addr" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$BIN/client/pulse" health "$addr" >/dev/null || { echo "$addr did not become healthy"; stop; exit 1; }
done

cat <<MSG

Pulse is up:
  schema service   $SCHEMA_ADDR
  admin token      $PULSE_ADMIN_TOKEN   (export PULSE_ADMIN_TOKEN=$PULSE_ADMIN_TOKEN in another terminal)
  org-data service $ORG_ADDR
  database         $PULSE_DB

Try:  $BIN/client/pulse tree 1 --depth=2
      $BIN/client/pulse tree 1 --format=dot | dot -Tsvg > org.svg
      $BIN/client/pulse revision
Ctrl-C stops both services.

MSG
PULSE_ADDR=$ORG_ADDR "$BIN/client/pulse" tree 1 --depth=1
echo
wait "${pids[@]}"
