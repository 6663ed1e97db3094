#!/usr/bin/env bash
# The GPU benchmarks in one command, for a machine with CUDA torch + torchvision (no Ray needed):
#
#     bash benchmarks/gpu.sh            # PYTHON=/path/to/python to pick the interpreter
#
# 1. benchmarks/gpu_bench.py: ms/step by size and switch, bf16 vs fp32 scorer delta,
#    L-BFGS vs Adam, 4K memory, tiled 3840x2160 and 8192x8192 memory, 720p video frame.
# 2. benchmarks/peers.py on CUDA at 512 px: pystiche and neural-style side by side. Needs
#    the wheels in benchmarks/_work/wheels (carry that folder) or PyPI access.
# Both append to benchmarks/RESULTS.md.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export STYLEBATCH_OFFLINE=1
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'" || exit 1
"$PY" benchmarks/gpu_bench.py "$@"
"$PY" benchmarks/peers.py --device cuda --sizes 512 --steps 100 --every 10 --repeats 2 \
    || echo "peers.py failed (no wheels in benchmarks/_work/wheels and no PyPI?)"
