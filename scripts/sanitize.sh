#!/usr/bin/env bash
# Build the native extension with AddressSanitizer + UndefinedBehaviorSanitizer and run the native tests
# (native reader, its limits and archives, the core, the missing-data rule) and a bounded fuzz run (the
# reader under tight memory budgets, blocks carried across batches, the tar reader) against it.
#
#   scripts/sanitize.sh                 # build into build/sanitize, run the tests, fuzz 30 s
#   FUZZ_SECONDS=300 scripts/sanitize.sh -x -k avro   # extra args go to pytest
#
# How: CMake option BTSBOT_FAST_SANITIZE=address,undefined (-fno-sanitize-recover: any UB aborts). The
# sanitized module is loaded instead of the installed one by a sitecustomize.py (a meta-path finder for
# btsbot_fast._core) on PYTHONPATH. A normal python cannot dlopen an ASan-built extension unless the ASan
# runtime comes first, hence LD_PRELOAD of libasan (and libstdc++). Leak detection is off (the
# interpreter itself "leaks" at exit). Needs: cmake, a C++17 compiler with sanitizers (GCC/Clang), pybind11.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
CXX_BIN=${CXX:-g++}
BUILD=${BUILD_DIR:-build/sanitize}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
JOBS=${JOBS:-2}

gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_BIN" \
  -DBTSBOT_FAST_SANITIZE=address,undefined \
  -Dpybind11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DPython_EXECUTABLE="$(command -v "$PY")" >/dev/null
cmake --build "$BUILD" --target _core -j "$JOBS"
SO=$(cd "$BUILD" && ls "$PWD"/_core*.so | head -n1)

SITE=$(mktemp -d)
trap 'rm -rf "$SITE"' EXIT
cat >"$SITE/sitecustomize.py" <<PYEOF
import importlib.util, sys

class _SanitizedCore:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "btsbot_fast._core":
            return importlib.util.spec_from_file_location(name, "$SO")
        return None

sys.meta_path.insert(0, _SanitizedCore)
PYEOF

# libstdc++ too: ASan's __cxa_throw interceptor must find it at start-up (python does not link it), else
# the first C++ exception aborts with "CHECK failed ... real___cxa_throw".
export LD_PRELOAD="$("$CXX_BIN" -print-file-name=libasan.so):$("$CXX_BIN" -print-file-name=libstdc++.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
# the limits tests still run every case; their wall-time and RSS figures mean nothing under ASan
export BTSBOT_FAST_SANITIZED=1

"$PY" -c "import btsbot_fast._core as c; assert c.__file__ == '$SO', c.__file__; print('sanitized core:', c.__file__)"
"$PY" -m pytest -q -p no:cacheprovider tests/test_native_avro.py tests/test_native_core.py \
  tests/test_reader_limits.py tests/test_missing_data.py "$@"
"$PY" tests/fuzz/run_fuzz.py --engine random --seconds "$FUZZ_SECONDS" --crash-dir "$BUILD/fuzz-crashes"
echo "sanitize: OK (ASan + UBSan: native tests and ${FUZZ_SECONDS} s of fuzzing, no report)"
