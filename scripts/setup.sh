#!/usr/bin/env bash
# Set up s2st_kit for development and the demo:
#   1. Debian/Ubuntu system packages (apt, when root or passwordless sudo is available),
#   2. a virtualenv in .venv with the package and its extras.
# Re-running is cheap: each step is skipped when its stamp is newer than its inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-}
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-all,dev,scale}

# System packages, one line per purpose:
APT_PACKAGES=(
  apertium apertium-eng-spa apertium-eng-cat apertium-en-gl apertium-eo-en  # offline MT
  pocketsphinx-testdata                                                   # real LibriVox speech
  libsndfile1                                                             # soundfile
  portaudio19-dev                                                         # pyaudio (microphone/speaker)
  chromium                                                                # browser tests
)
APT_LIST=$(printf '%s\n' "${APT_PACKAGES[@]}" | sed 's/ *#.*//' | tr -s ' \n' ' ')

# pip's own chatter about this machine's index mirrors is noise for a user.
pipq() {
  local rc
  { "$VENV/bin/python" -m pip "$@" 2>&1; echo "pip-rc=$?"; } | grep -v -e '^WARNING: Location' -e 'BuildBackendWarning' > "$VENV/.pip.log" || true
  rc=$(sed -n 's/^pip-rc=//p' "$VENV/.pip.log")
  grep -v '^pip-rc=' "$VENV/.pip.log" | grep -E 'ERROR|error:' || true
  return "${rc:-1}"
}

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

missing_apt() {
  local missing=()
  for p in $APT_LIST; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  echo "${missing[@]:-}"
}

install_system() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    say "not a Debian/Ubuntu system: install these yourself if you need them: $APT_LIST"
    say "(the offline engines need Apertium with its language pairs; everything else still works)"
    return 0
  fi
  local missing
  missing=$(missing_apt)
  if [ -z "$missing" ]; then
    return 0
  fi
  local SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      SUDO="sudo -n"
    else
      say "system packages missing: $missing"
      say "run as root, or: sudo apt-get install -y $missing"
      say "continuing without them: the offline engines and browser tests will be skipped with a reason"
      return 0
    fi
  fi
  say "installing system packages: $missing"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

find_python() {
  if [ -n "$PYTHON" ]; then echo "$PYTHON"; return; fi
  for c in python3.13 python3.12 python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$c"; return
    fi
  done
  say "Python 3.11 or newer is required (apt-get install python3 python3-venv)" >&2
  exit 1
}

install_python() {
  local stamp="$VENV/.stamp-$EXTRAS"
  if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    local py
    py=$(find_python)
    say "creating $VENV with $($py --version)"
    "$py" -m venv "$VENV"
  fi
  say "installing s2st_kit[$EXTRAS] into $VENV"
  pipq install -q --upgrade pip
  pipq install -q -e ".[$EXTRAS]"
  # SimulEval (the second latency scorer) pins tqdm==4.64.1 and pytest-flake8: without its
  # dependencies (the ones it uses at run time are ours, plus textgrid in the dev extra).
  pipq install -q --no-deps "simuleval==1.1.4" || say "simuleval not installed: its cross-check is skipped"
  # pyaudio compiles against PortAudio's headers: only when they are there.
  if [ -f /usr/include/portaudio.h ]; then
    pipq install -q -e ".[audio]" || say "pyaudio failed to build: local devices disabled"
  else
    say "PortAudio headers missing (portaudio19-dev): local microphone/speaker support disabled"
  fi
  touch "$stamp"
}

install_system
install_python
say "ready: $VENV"
