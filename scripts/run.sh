#!/usr/bin/env bash
# Sets up (installs missing apt packages), builds, migrates data/pulse.db to
# head and runs the schema service on 127.0.0.1:50051 in the foreground.
# Ctrl-C stops it cleanly. Safe to run again: migrating to head is a no-op
# when the database is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BIN=${BUILD_DIR:-build}/services
export PULSE_DB=${PULSE_DB:-data/pulse.db}
export PULSE_MIGRATIONS=${PULSE_MIGRATIONS:-migrations}
export PULSE_ADMIN_TOKEN=${PULSE_ADMIN_TOKEN:-dev-admin-token}
mkdir -p "$(dirname "$PULSE_DB")"
"$BIN/schema/pulse-schema" upgrade head
echo "schema service: 127.0.0.1:${SCHEMA_PORT:-50051} (admin token: \$PULSE_ADMIN_TOKEN)"
exec "$BIN/schema/pulse-schema" serve --listen="127.0.0.1:${SCHEMA_PORT:-50051}"
