#!/usr/bin/env bash
# The GPU check, in one command (about 8 minutes on one H100): the default tests on CUDA with failures named, the
# criteria step-time benchmark, the training-throughput benchmark, the speed-up accuracy benchmark and ResNet18's
# latency-vs-MACs rows on the GPU. Every output is written under the folder given as the argument.
#
#   bash benchmarks/gpu_check.sh OUTPUT_DIR
#
# Missing packages (torch-pruning, pydantic, sqlalchemy, alembic, ...) can be put as wheels in .whl/: they are
# installed first (see the device notes in the README).
set -u
out=${1:?usage: bash benchmarks/gpu_check.sh OUTPUT_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
{ nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"; } >"$out/device.txt" 2>&1

step() {  # name, time limit (s), command...
  local name=$1 limit=$2; shift 2
  local started=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  echo "$name: exit $? after $((SECONDS - started)) s" | tee -a "$out/summary.txt"
}

step tests 260 python3 -m pytest -q -rf --maxfail=20 -p no:cacheprovider -n 8 --dist loadfile -m "not slow" \
  --ignore=tests/web/test_browser.py
step criteria_step_time 50 python3 benchmarks/criteria_step_time.py --repeats 9
step train_throughput 60 python3 benchmarks/train_throughput.py --steps 40 --workers 8 --out "$out/train_throughput.json"
step speedup_accuracy 40 python3 benchmarks/speedup_accuracy.py
step latency_vs_macs 50 python3 benchmarks/latency_vs_macs.py --models resnet18_cifar --batch 256 --repeats 20 \
  --out "$out/latency_vs_macs.json"
# the H100 question of issue 12: bf16 + channels_last pruned models against the dense one, as deployed
step latency_bf16_channels_last 30 python3 benchmarks/latency_vs_macs.py --models resnet18_cifar --batch 256 \
  --repeats 20 --kinds macs --engines eager --precision bf16 --channels-last --out "$out/latency_bf16_cl.json"
grep -E "^(FAILED|ERROR)|passed|failed" "$out/tests.log" | tail -40 >>"$out/summary.txt"
cat "$out/summary.txt"
