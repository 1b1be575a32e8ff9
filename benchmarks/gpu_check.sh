#!/usr/bin/env bash
# Every GPU figure of the speed benchmarks in one prepared run (~8 min on one H200-class GPU):
# the fp32-vs-bf16 agreement test, bench_outputs at 10,000 points for both networks (GPU: each
# layer's ceiling is measured in the precision it runs in, bf16 for the CNN, fp32 for the MLP),
# bench_train on the GPU, and bench_trainer (MLPs trained K per step: models per minute per K).
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]      # logs go to OUT_DIR (default: gpu_check/)
#
# Uses whatever `python3` has torch with CUDA; the toolkit runs from this checkout (PYTHONPATH).
set -euo pipefail
out=${1:-gpu_check}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))" | tee "$out/device.txt"
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit,memory.total --format=csv | tee -a "$out/device.txt"
python3 -m pytest -p no:cacheprovider -q tests/outputs/test_outputs.py -k "gpu or bf16" 2>&1 | tee "$out/tests.txt"
python3 benchmarks/bench_outputs.py --models 20 --points 10000 --repeats 3 2>&1 | tee "$out/bench_outputs.txt"
python3 benchmarks/bench_train.py --device cuda --steps 5 --stack 8 2>&1 | tee "$out/bench_train.txt"
python3 benchmarks/bench_trainer.py --device cuda --stack 1,8,32,128 2>&1 | tee "$out/bench_trainer.txt"
