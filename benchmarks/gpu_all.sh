#!/bin/bash
# Every GPU measurement of benchmarks/RESULTS.md in one go (about 5 minutes on one recent GPU):
#   bash benchmarks/gpu_all.sh > gpu_results.txt 2>&1
# Model throughput (fp32, fp16, bf16, channels-last), the trainer against a bare loop and
# Lightning on the default config, data rendered on the GPU against CPU workers, the fp16 path
# with a forced overflow, and memory over 10 epochs.
set -x
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python -c "import torch; print(torch.__version__, torch.version.cuda)"
python benchmarks/bench_model.py --presets default --steps 20
python benchmarks/bench_trainer.py --config configs/default.yaml --device cuda --epochs 2 \
    --train-size 4096 --val-size 256 --repeats 2
for on in device cpu; do
  python - "$on" <<'PY'
import sys, tempfile, time
from inktrace import Config, DenseTrainer
on = sys.argv[1]
with tempfile.TemporaryDirectory() as tmp:
    cfg = Config.from_yaml("configs/default.yaml", stage="dense", overrides={
        "training.epochs": 2, "data.train_size": 8192, "data.val_size": 256, "init_from": "none",
        "data.render_on": on, "data.num_workers": 0 if on == "device" else 8,
        "curriculum.enabled": False, "data.curriculum_stage": 6,
        "checkpoint.save_dir": tmp, "logging.log_dir": tmp})
    t = DenseTrainer(cfg, verbose=False)
    start = time.perf_counter(); s = t.fit(); seconds = time.perf_counter() - start
    h = s.get("final_metrics", {})
    print(f"render_on={on}: {2 * 8192 / seconds:.0f} samples/s; last epoch data share",
          t.state.history["time/data_share"][-1])
PY
done
python benchmarks/check_fp16.py
python benchmarks/bench_memory.py --device cuda
