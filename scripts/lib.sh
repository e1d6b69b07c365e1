# Shared by the scripts in this folder: the project virtualenv with the pinned AWS emulator,
# and starting and stopping that emulator on a free loopback port. Source it; don't run it.

MOTO_VERSION="5.2.5"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

say() { printf '==> %s\n' "$*" >&2; }

# Creates .venv and installs the pinned emulator, unless that exact version is there already.
ensure_emulator() {
  if [ -x "$VENV/bin/moto_server" ] && "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('moto') != '$MOTO_VERSION')" 2>/dev/null; then
    return
  fi
  say "installing moto[server]==$MOTO_VERSION into .venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the emulator in the background and exports what the SDK needs to reach it:
# AWS_ENDPOINT_URL, dummy credentials and a region. Sets EMULATOR_PID.
start_emulator() {
  local port log
  port="$(free_port)"
  log="${EMULATOR_LOG:-$ROOT/target/emulator.log}"
  mkdir -p "$(dirname "$log")"
  # The request recorder (used to count API calls) writes beside the log, one file per
  # emulator, not into the working tree.
  # scripts/emulator.py is moto's server with the project's extensions (docs/TESTING.md).
  MOTO_RECORDER_FILEPATH="${log%.log}.recording.jsonl" "$VENV/bin/python" "$ROOT/scripts/emulator.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  EMULATOR_PID=$!
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  unset AWS_PROFILE AWS_SESSION_TOKEN
  for _ in $(seq 1 300); do
    if curl -fsS "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1; then
      say "AWS emulator listening on $AWS_ENDPOINT_URL (pid $EMULATOR_PID, log $log)"
      return
    fi
    if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
      say "the emulator exited at start; its log:"; cat "$log" >&2; return 1
    fi
    sleep 0.1
  done
  say "the emulator did not answer within 30 s; its log is $log"; return 1
}

stop_emulator() {
  if [ -n "${EMULATOR_PID:-}" ] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
    kill "$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
  fi
}
