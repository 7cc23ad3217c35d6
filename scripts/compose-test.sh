#!/usr/bin/env bash
# The docker-compose stack, run for real: installs what it needs from
# Debian (docker.io, docker-compose, debootstrap), starts dockerd if none
# is running (and stops the one it started, by pid, at the end), builds the
# local base images debian:bookworm and debian:bookworm-slim when missing
# (debootstrap from this machine's apt mirror; kept for later runs), then
# runs the README's "Docker compose" commands one by one, as written, with
# checks between them. Prints each check and ends with "N passed, N
# failed"; exit status 1 if any failed. Every wait has a deadline.
#
# The stack runs as compose project "pulse-compose-test" (its own
# containers and volume), from a scratch directory holding the README's
# people.csv and departments.csv and a link to this tree's build/.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
BUILD=${BUILD_DIR:-build}

passed=0
failed=0
pass() { echo "PASS  $*"; passed=$((passed + 1)); }
fail() { echo "FAIL  $*"; failed=$((failed + 1)); }
check() {  # check DESCRIPTION COMMAND...: passes when COMMAND exits 0
  local what=$1
  shift
  local out
  if out=$("$@" 2>&1); then
    pass "$what"
  else
    fail "$what"
    echo "$out" | tail -20 | sed 's/^/      /'
  fi
}
# wait_for SECONDS COMMAND...: runs COMMAND until it exits 0 or time is up.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
}

# --- what it needs ----------------------------------------------------------
scripts/setup.sh --compose || exit 1
# The binaries the README runs from the host, and the grpcurl stand-in.
if [ ! -x "$BUILD/services/client/pulse" ] || [ ! -x "$BUILD/tests/pulse_grpcurl" ]; then
  scripts/build.sh >/dev/null
fi
PULSE="$REPO/$BUILD/services/client/pulse"
GRPCURL="$REPO/$BUILD/tests/pulse_grpcurl"

# --- the engine -------------------------------------------------------------
WORK=$(mktemp -d /tmp/pulse-compose-test.XXXXXX)
DOCKERD_PID=""
export COMPOSE_PROJECT_NAME=pulse-compose-test
export COMPOSE_FILE="$REPO/docker-compose.yml"
cleanup() {
  (cd "$WORK" && timeout 120 docker-compose down -v --remove-orphans) >/dev/null 2>&1
  if [ -n "$DOCKERD_PID" ]; then
    kill -TERM "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    kill -KILL "$DOCKERD_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
if ! timeout 10 docker info >/dev/null 2>&1; then
  echo "compose-test: starting dockerd (log: $WORK/dockerd.log)"
  dockerd >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  if ! wait_for 60 docker info; then
    fail "dockerd started within 60 s"
    tail -20 "$WORK/dockerd.log"
    echo "$passed passed, $failed failed"
    exit 1
  fi
fi
pass "a docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"

# --- base images ------------------------------------------------------------
if ! docker image inspect debian:bookworm >/dev/null 2>&1; then
  # The first deb.debian.org-style mirror this machine's apt uses.
  MIRROR=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    grep -v security | head -1 | awk '{print ($1 == "deb") ? $2 : $2}')
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  echo "compose-test: building debian:bookworm with debootstrap from $MIRROR"
  ROOTFS="$WORK/rootfs"
  if timeout 900 debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    # apt inside the containers uses the suites this machine's apt uses.
    rm -f "$ROOTFS/etc/apt/sources.list"
    cp -a /etc/apt/sources.list.d/. "$ROOTFS/etc/apt/sources.list.d/"
    [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$ROOTFS/etc/apt/sources.list"
    find "$ROOTFS/etc/apt/sources.list.d" -name '*disabled*' -delete
    tar -C "$ROOTFS" -c . | docker import - debian:bookworm >/dev/null
    rm -rf "$ROOTFS"
  else
    tail -20 "$WORK/debootstrap.log"
  fi
fi
docker image inspect debian:bookworm-slim >/dev/null 2>&1 ||
  docker tag debian:bookworm debian:bookworm-slim 2>/dev/null
check "base images debian:bookworm and debian:bookworm-slim exist" \
  docker image inspect debian:bookworm debian:bookworm-slim

# --- the README's commands --------------------------------------------------
# The first ```sh block after the marker in the README's compose section.
mapfile -t COMMANDS < <(awk '
  /<!-- checked by scripts\/compose-test.sh -->/ { armed = 1; next }
  armed && /^```sh/ { inside = 1; next }
  inside && /^```/ { exit }
  inside && NF { print }' README.md)
if [ ${#COMMANDS[@]} -eq 0 ]; then
  fail "README.md has a compose block marked for this script"
  echo "$passed passed, $failed failed"
  exit 1
fi

ln -s "$REPO/$BUILD" "$WORK/build"
cat >"$WORK/people.csv" <<'EOF'
id,manager_id,full_name,title,email,department,hire_date
900002,900001,Grace Hopper,Rear Admiral,grace@compose.example,Navy,1943-05-01
900001,1,Ada Lovelace,Analyst,ada@compose.example,Navy,1842-01-01
EOF
cat >"$WORK/departments.csv" <<'EOF'
name,parent,head_employee_id
Navy,,900001
EOF
cd "$WORK"
# Anything left by an interrupted run goes first.
timeout 120 docker-compose down -v --remove-orphans >/dev/null 2>&1

health() { "$PULSE" health "127.0.0.1:$1"; }
container_health() {  # container_health SERVICE: docker's view of its health check
  docker inspect -f '{{.State.Health.Status}}' "$(docker-compose ps -q "$1")" 2>/dev/null
}
both_healthy() {
  [ "$(container_health schema)" = healthy ] && [ "$(container_health orgdata)" = healthy ]
}
published_on_loopback() {  # every published port is bound to 127.0.0.1
  local s p
  for s in schema orgdata; do
    p=$(docker-compose port "$s" "$([ $s = schema ] && echo 50051 || echo 50052)") || return 1
    case "$p" in 127.0.0.1:*) ;; *) echo "$s published on $p"; return 1 ;; esac
  done
}
not_serving() { ! health 50052; }
reflection_lists_both() {
  local s
  s=$("$GRPCURL" 127.0.0.1:50051 list) && echo "$s" | grep -qx pulse.schema.v1.SchemaService &&
    s=$("$GRPCURL" 127.0.0.1:50052 list) && echo "$s" | grep -qx pulse.orgdata.v1.OrgDataService
}
admin_refused_without_token() {
  local err
  err=$("$GRPCURL" -d '{"target":"base"}' 127.0.0.1:50051 pulse.schema.v1.SchemaService/Downgrade 2>&1) && return 1
  echo "$err" | grep -q UNAUTHENTICATED
}
employee_shown() { "$PULSE" employee "$1" | grep -q "$2"; }
# Reads keep answering while the schema service restarts.
reads_during_schema_restart() {
  timeout 120 docker-compose restart schema >"$WORK/restart.log" 2>&1 &
  local restart=$! reads=0 bad=0
  while kill -0 "$restart" 2>/dev/null; do
    if "$PULSE" tree 1 --depth=1 >/dev/null 2>&1; then reads=$((reads + 1)); else bad=$((bad + 1)); fi
    sleep 0.2
  done
  wait "$restart" || { cat "$WORK/restart.log"; return 1; }
  echo "$reads reads answered, $bad refused during the restart"
  [ "$bad" -eq 0 ] && [ "$reads" -gt 0 ] && wait_for 90 both_healthy && health 50052
}
# The data guard refuses a Downgrade that drops the organisation.
downgrade_guarded() {
  local auth="authorization: Bearer $PULSE_ADMIN_TOKEN" err
  err=$("$GRPCURL" -H "$auth" -d '{"target":"base"}' 127.0.0.1:50051 pulse.schema.v1.SchemaService/Downgrade 2>&1) && return 1
  echo "$err"
  echo "$err" | grep -q FAILED_PRECONDITION && echo "$err" | grep -q "table employees (" &&
    health 50052 && employee_shown 900002 "Grace Hopper"
}
# Allowed, it writes a backup first; restore puts the organisation back
# and org-data follows it by itself.
downgrade_then_upgrade_then_restore() {
  local auth="authorization: Bearer $PULSE_ADMIN_TOKEN" out backup
  out=$("$GRPCURL" -H "$auth" -d '{"target":"base","allow_data_loss":true}' 127.0.0.1:50051 pulse.schema.v1.SchemaService/Downgrade) || return 1
  backup=$(echo "$out" | grep -o '/data/pulse\.db\.[^"]*\.bak' | head -1)
  [ -n "$backup" ] || { echo "no backup in: $out"; return 1; }
  wait_for 30 not_serving || { echo "org-data still SERVING after Downgrade to base"; return 1; }
  "$GRPCURL" -H "$auth" -d '{"target":"head"}' 127.0.0.1:50051 pulse.schema.v1.SchemaService/Upgrade >/dev/null || return 1
  wait_for 30 health 50052 || { echo "org-data not SERVING after Upgrade to head"; return 1; }
  docker-compose exec -T schema pulse-schema restore --from="$backup" || return 1
  wait_for 30 employee_shown 900002 "Grace Hopper" || { echo "the restored organisation is not served"; return 1; }
}
volume_exists() { docker volume inspect "${COMPOSE_PROJECT_NAME}_pulse-data" >/dev/null 2>&1; }
nothing_left() {
  ! volume_exists && [ -z "$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")" ]
}

for command in "${COMMANDS[@]}"; do
  echo "----  $command"
  case "$command" in
    *"up --build"*) limit=1800 ;;
    *) limit=300 ;;
  esac
  check "README: ${command%%  *#*}" timeout "$limit" bash -c "$command"
  case "$command" in
    export\ PULSE_ADMIN_TOKEN=*)
      eval "${command%%#*}"
      check "the admin token is set and 16 characters or more" test "${#PULSE_ADMIN_TOKEN}" -ge 16
      ;;
    *"up --build"*)
      check "both services healthy within 120 s" wait_for 120 both_healthy
      check "ports published on 127.0.0.1 only" published_on_loopback
      check "schema and org-data SERVING from the host" bash -c "'$PULSE' health 127.0.0.1:50051 && '$PULSE' health 127.0.0.1:50052"
      check "reflection lists both services (grpcurl list)" reflection_lists_both
      check "Downgrade without the admin token: UNAUTHENTICATED" admin_refused_without_token
      ;;
    *"pulse tree 1"*)
      check "the subtree streams (root and its reports)" bash -c "$command | head -3 | grep -q '#1$'"
      ;;
    *"pulse import people.csv --departments=departments.csv")
      check "the imported employees are served" employee_shown 900002 "Grace Hopper"
      check "docker-compose restart schema: org-data keeps serving reads" reads_during_schema_restart
      ;;
    "docker-compose down -v"*)
      check "down -v removes the containers and the volume" nothing_left
      ;;
    "docker-compose down"*)
      check "down keeps the volume" volume_exists
      ;;
    "docker-compose up -d"*)
      check "both services healthy again within 120 s" wait_for 120 both_healthy
      check "the data survived down and up (volume pulse-data)" employee_shown 900002 "Grace Hopper"
      check "a Downgrade to base is refused: it would drop the organisation (FAILED_PRECONDITION)" downgrade_guarded
      check "allow_data_loss: backup, NOT_SERVING; Upgrade serves again; restore brings the data back (no restart)" downgrade_then_upgrade_then_restore
      ;;
  esac
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
