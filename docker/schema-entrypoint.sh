#!/bin/sh
# The schema service container: migrate to head, optionally seed a demo
# organisation into an empty database, then serve.
set -eu
pulse-schema upgrade head
if [ -n "${PULSE_DEMO_EMPLOYEES:-}" ]; then
  pulse-orgdata seed --if_empty --employees="$PULSE_DEMO_EMPLOYEES"
fi
exec pulse-schema serve --listen=0.0.0.0:50051
