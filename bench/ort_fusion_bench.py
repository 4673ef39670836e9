#!/usr/bin/env python3
"""ONNX Runtime on one model three ways, side by side, interleaved:

  original        the model as exported, ORT's graph optimizations off
  original+ORT    the model as exported, ORT's own online optimizations (ORT_ENABLE_ALL)
  bertc           `bertc optimize` output, ORT_ENABLE_BASIC (constant folding only: the
                  transformer fusions are bertc's)
  bertc+ORT       `bertc optimize` output, ORT_ENABLE_ALL
  bertc-contrib-sln  `bertc optimize --ort-contrib-skip-layernorm` output, ORT_ENABLE_BASIC
                  (SkipLayerNorm as ORT's contrib kernel instead of Add + LayerNormalization)

Each configuration runs in its own process, and the processes are
interleaved (A B C D A B C D ...) over --reps rounds, so that machine noise
hits all of them alike. Reports the median and minimum latency per
configuration and the ratio to original+ORT, with this machine's single-core
FMA peak measured in the same run (bench/fma_peak.c).

    .venv/bin/python bench/ort_fusion_bench.py --model build/bench/bert-base.onnx --bertc build/cmd/bertc \\
        --threads 1,2 --batch 1 --seq 128 --reps 5 --runs 10
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fma import fma_peak_gflops

HERE = Path(__file__).resolve().parent


def worker(args) -> None:
    """One configuration in this process: print a JSON list of latencies (s)."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, args.level)
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for i in sess.get_inputs():
        if "mask" in i.name:  # the benchmark's own input convention; bertc itself never looks at names
            feeds[i.name] = np.ones((args.batch, args.seq), dtype=np.int64)
        elif "type" in i.name:
            feeds[i.name] = np.zeros((args.batch, args.seq), dtype=np.int64)
        else:
            feeds[i.name] = rng.integers(1, 1000, (args.batch, args.seq), dtype=np.int64)
    for _ in range(args.warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - t0)
    print(json.dumps(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--bertc", default=str(HERE.parent / "build" / "cmd" / "bertc"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5, help="interleaved rounds (processes per configuration)")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per process")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--level", help=argparse.SUPPRESS)
    args, _ = ap.parse_known_args()
    if args.worker:
        args.threads = int(args.threads)
        return worker(args)

    tmp = Path(tempfile.mkdtemp())
    optimized, optimized_sln = str(tmp / "model.bertc.onnx"), str(tmp / "model.bertc-sln.onnx")
    t0 = time.perf_counter()
    subprocess.run([args.bertc, "optimize", args.model, "-o", optimized], check=True)
    optimize_s = time.perf_counter() - t0
    subprocess.run([args.bertc, "optimize", args.model, "-o", optimized_sln, "--ort-contrib-skip-layernorm"], check=True)
    peak = fma_peak_gflops()
    configs = [("original", args.model, "ORT_DISABLE_ALL"), ("original+ORT", args.model, "ORT_ENABLE_ALL"),
               ("bertc", optimized, "ORT_ENABLE_BASIC"), ("bertc+ORT", optimized, "ORT_ENABLE_ALL"),
               ("bertc-contrib-sln", optimized_sln, "ORT_ENABLE_BASIC")]
    threads = [int(t) for t in args.threads.split(",")]
    samples = {(t, name): [] for t in threads for name, _, _ in configs}
    for rep in range(args.reps):
        for t in threads:
            for name, model, level in configs:
                out = subprocess.run([sys.executable, __file__, "--worker", "--model", model, "--level", level,
                                      "--threads", str(t), "--batch", str(args.batch), "--seq", str(args.seq),
                                      "--runs", str(args.runs), "--warmup", str(args.warmup)],
                                     check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(t)})
                samples[(t, name)] += json.loads(out.stdout)
        print(f"round {rep + 1}/{args.reps} done", file=sys.stderr)

    result = {"model": args.model, "batch": args.batch, "seq": args.seq, "reps": args.reps, "runs": args.runs,
              "fma_peak_gflops_per_core": peak, "bertc_optimize_seconds": optimize_s, "configs": []}
    print(f"\nmodel {args.model}, batch {args.batch}, seq {args.seq}; {args.reps} interleaved processes x "
          f"{args.runs} runs per configuration; FMA peak per core (this run): "
          + ", ".join(f"{isa} {g:.1f} GFLOP/s" for isa, g in peak.items()) + "; "
          f"bertc optimize took {optimize_s:.1f} s\n")
    print("| threads | configuration | median ms | min ms | median / original+ORT |")
    print("|---|---|---|---|---|")
    for t in threads:
        ref = statistics.median(samples[(t, "original+ORT")])
        for name, _, level in configs:
            s = samples[(t, name)]
            med, mn = statistics.median(s), min(s)
            print(f"| {t} | {name} ({level}) | {med * 1e3:.1f} | {mn * 1e3:.1f} | {med / ref:.3f} |")
            result["configs"].append({"threads": t, "name": name, "ort_level": level, "median_s": med, "min_s": mn,
                                      "ratio_to_ort": med / ref, "samples": len(s)})
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
