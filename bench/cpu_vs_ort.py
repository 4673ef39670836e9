#!/usr/bin/env python3
"""bertc's compiled model (`bertc bench --target=cpu`, LLVM ORC JIT in
process) against ONNX Runtime (CPU EP, ORT_ENABLE_ALL, intra_op_num_threads
T, inter 1, sequential) on the same model, side by side:

  base-b1s128   BERT-base, batch 1, sequence 128           latency; target bertc <= 0.86x ORT (1 thread), 0.8x (2)
  base-b8var    BERT-base, batch 8, sequence 128, lengths  throughput; target bertc >= 2x ORT
                uniform in 16..128: bertc gets the real lengths (--lengths uniform:16-128, padding-free), ORT
                the right-padded [8, 128] batch with the same mask
  3l-b1s32      3-layer BERT, batch 1, sequence 32         latency; target bertc <= 0.7x ORT
  compile       `bertc --stats compile` of BERT-base to an object: wall time and peak memory, median of
                --compile-reps (targets <= 10 s, <= 3 GB = 3e9 bytes)

Each (configuration, threads, implementation) runs in its own process:
`bertc bench ... --json`, which compiles the model in process then times
--runs runs after --warmup, or a Python process running ORT the same way.
bertc and ORT alternate (bertc ORT, then ORT bertc next round, ...) over
--reps rounds so that machine noise hits both alike. Each process reports its
median (and minimum); the table gives the median over processes of those
medians and the minimum over processes of their minimums. Ratios are bertc /
ORT of the medians: time for the latency rows, sequences per second for the
throughput row. The single-core FMA peak (bench/fma.py) is measured before
and after, in the same run, and recorded.

Inputs. The ORT process uses exactly the sequence lengths and mask of
`bertc bench --seed S`: lengths are drawn as bertc draws them (std::mt19937_64
seeded with S, libstdc++'s uniform_int_distribution, replicated below) and
the script checks that their sum equals the real_tokens bertc reports. The
token ids are not replicated: ORT gets ids drawn with NumPy in [1, 1000) on
real tokens and 0 on padding, token types 0. Id values do not change the
time of either side.

    .venv/bin/python bench/cpu_vs_ort.py --bertc build/cmd/bertc --models build/bench --reps 5 --runs 20
    .venv/bin/python bench/cpu_vs_ort.py --configs 3l-b1s32,compile --threads 1 --reps 3

Writes bench/results/cpu_vs_ort.json (or --json): machine, FMA peak, ORT
version, bertc commit, command line, and every process's median and minimum.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fma import best_peak, fma_peak_gflops

HERE = Path(__file__).resolve().parent
MASK64 = (1 << 64) - 1

# name: model file, batch, seq, lengths (lo, hi) or None, metric, target ratio by thread count.
# Latency targets are upper bounds on bertc / ORT time; the throughput target a lower bound on bertc / ORT.
CONFIGS = {
    "base-b1s128": dict(model="bert-base.onnx", batch=1, seq=128, lengths=None, metric="latency",
                        target={1: 0.86, 2: 0.8}),
    "base-b8var": dict(model="bert-base.onnx", batch=8, seq=128, lengths=(16, 128), metric="throughput",
                       target={1: 2.0, 2: 2.0}),
    "3l-b1s32": dict(model="bert-3l.onnx", batch=1, seq=32, lengths=None, metric="latency",
                     target={1: 0.7, 2: 0.7}),
}
COMPILE_MODEL = "bert-base.onnx"
COMPILE_TARGETS = {"wall_s": 10.0, "peak_bytes": 3e9}


class Mt19937_64:
    """std::mt19937_64: the generator `bertc bench` draws its inputs from."""

    def __init__(self, seed: int):
        self.mt = [seed & MASK64]
        for i in range(1, 312):
            prev = self.mt[-1]
            self.mt.append((6364136223846793005 * (prev ^ (prev >> 62)) + i) & MASK64)
        self.index = 312

    def __call__(self) -> int:
        if self.index >= 312:
            for i in range(312):
                x = (self.mt[i] & 0xFFFFFFFF80000000) | (self.mt[(i + 1) % 312] & 0x7FFFFFFF)
                self.mt[i] = self.mt[(i + 156) % 312] ^ (x >> 1) ^ (0xB5026F5AA96619E9 if x & 1 else 0)
            self.index = 0
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        return (y ^ (y >> 43)) & MASK64


def uniform_int(rng: Mt19937_64, lo: int, hi: int) -> int:
    """libstdc++'s std::uniform_int_distribution<int64_t>(lo, hi) on a 64-bit
    generator (GCC >= 11): Lemire's multiply-and-shift with rejection."""
    span = hi - lo + 1
    product = rng() * span
    if product & MASK64 < span:
        threshold = ((1 << 64) - span) % span
        while product & MASK64 < threshold:
            product = rng() * span
    return lo + (product >> 64)


def bertc_lengths(batch: int, seq: int, lengths, seed: int) -> list:
    """The sequence lengths `bertc bench --seed seed --lengths uniform:lo-hi` runs."""
    if lengths is None:
        return [seq] * batch
    rng = Mt19937_64(seed)
    return [min(seq, uniform_int(rng, *lengths)) for _ in range(batch)]


def ort_worker(args) -> None:
    """ORT on one configuration in this process: prints {"times_ms": [...], "lengths": [...]} as JSON."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    lengths = bertc_lengths(args.batch, args.seq, tuple(args.lengths) if args.lengths else None, args.seed)
    real = np.arange(args.seq)[None, :] < np.array(lengths)[:, None]
    rng = np.random.default_rng(args.seed)
    feeds = {}
    for i in sess.get_inputs():
        if "mask" in i.name:  # the benchmark's input convention (make_bert_base.py's names)
            feeds[i.name] = real.astype(np.int64)
        elif "type" in i.name:
            feeds[i.name] = np.zeros((args.batch, args.seq), dtype=np.int64)
        else:
            feeds[i.name] = np.where(real, rng.integers(1, 1000, (args.batch, args.seq)), 0).astype(np.int64)
    for _ in range(args.warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"times_ms": times, "lengths": lengths}))


def run_bertc(args, cfg: dict, threads: int) -> dict:
    cmd = [args.bertc, "bench", str(Path(args.models) / cfg["model"]), "--target=cpu", "--cpu", args.cpu,
           "--batch", str(cfg["batch"]), "--seq", str(cfg["seq"]), "--threads", str(threads),
           "--runs", str(args.runs), "--warmup", str(args.warmup), "--seed", str(args.seed), "--json"]
    if cfg["lengths"]:
        cmd += ["--lengths", "uniform:{}-{}".format(*cfg["lengths"])]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    want = sum(bertc_lengths(cfg["batch"], cfg["seq"], cfg["lengths"], args.seed))
    if out["real_tokens"] != want:
        sys.exit(f"cpu_vs_ort: bertc ran {out['real_tokens']} real tokens, the replicated lengths sum to {want}")
    return {"median_ms": statistics.median(out["times_ms"]), "min_ms": min(out["times_ms"]),
            "compile_seconds": out["compile_seconds"], "peak_memory_bytes": out["peak_memory_bytes"],
            "real_tokens": out["real_tokens"]}


def run_ort(args, cfg: dict, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--ort-worker", "--model", str(Path(args.models) / cfg["model"]),
           "--batch", str(cfg["batch"]), "--seq", str(cfg["seq"]), "--threads", str(threads),
           "--runs", str(args.runs), "--warmup", str(args.warmup), "--seed", str(args.seed)]
    if cfg["lengths"]:
        cmd += ["--lengths", *map(str, cfg["lengths"])]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True,
                                    env={**os.environ, "OMP_NUM_THREADS": str(threads)}).stdout)
    return {"median_ms": statistics.median(out["times_ms"]), "min_ms": min(out["times_ms"]),
            "real_tokens": sum(out["lengths"])}


def run_compile(args) -> dict:
    with tempfile.TemporaryDirectory() as d:
        err = subprocess.run([args.bertc, "--stats", "compile", str(Path(args.models) / COMPILE_MODEL), "-o",
                              str(Path(d) / "bert.o"), "--cpu", args.cpu],
                             check=True, capture_output=True, text=True).stderr
    m = re.search(r"stats: wall ([\d.]+) s, peak memory ([\d.]+) MiB", err)
    if not m:
        sys.exit(f"cpu_vs_ort: no stats line in bertc's stderr:\n{err}")
    return {"wall_s": float(m.group(1)), "peak_bytes": float(m.group(2)) * 2**20}


def machine_info(args) -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    repo = Path(args.bertc).resolve().parent

    def git(*a):
        r = subprocess.run(["git", "-C", str(repo), *a], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    import onnxruntime
    return {"cpu_model": model.group(1) if model else platform.processor(), "cores": os.cpu_count(),
            "avx512f": " avx512f" in cpuinfo, "ort_version": onnxruntime.__version__,
            "bertc": str(Path(args.bertc).resolve()), "bertc_commit": git("rev-parse", "HEAD"),
            "bertc_tree_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "python": platform.python_version()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bertc", default=str(HERE.parent / "build" / "cmd" / "bertc"))
    ap.add_argument("--models", default=str(HERE.parent / "build" / "bench"),
                    help="folder with bert-base.onnx and bert-3l.onnx (bench/make_bert_base.py)")
    ap.add_argument("--cpu", default=None, help="bertc --cpu (default: x86-64-v4 with avx512f, else x86-64-v3)")
    ap.add_argument("--reps", type=int, default=5, help="interleaved rounds (processes per configuration)")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per process")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs per process first")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--configs", default=",".join([*CONFIGS, "compile"]))
    ap.add_argument("--compile-reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1, help="bertc bench --seed; the same lengths go to ORT")
    ap.add_argument("--json", default=str(HERE / "results" / "cpu_vs_ort.json"))
    ap.add_argument("--ort-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seq", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--lengths", type=int, nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ort_worker:
        args.threads = int(args.threads)
        return ort_worker(args)
    if args.cpu is None:
        args.cpu = "x86-64-v4" if " avx512f" in Path("/proc/cpuinfo").read_text() else "x86-64-v3"
    names = args.configs.split(",")
    unknown = [n for n in names if n not in CONFIGS and n != "compile"]
    if unknown:
        sys.exit(f"cpu_vs_ort: unknown configs {unknown}; known: {', '.join([*CONFIGS, 'compile'])}")
    threads = [int(t) for t in args.threads.split(",")]

    info = machine_info(args)
    info["load_average_start"] = os.getloadavg()
    peak = fma_peak_gflops()
    samples = {(n, t, impl): [] for n in names if n in CONFIGS for t in threads for impl in ("bertc", "ort")}
    compiles = []
    for rep in range(args.reps):
        order = ("bertc", "ort") if rep % 2 == 0 else ("ort", "bertc")
        for n in names:
            if n == "compile":
                if rep < args.compile_reps:
                    compiles.append(run_compile(args))
                continue
            for t in threads:
                for impl in order:
                    run = run_bertc if impl == "bertc" else run_ort
                    samples[(n, t, impl)].append(run(args, CONFIGS[n], t))
        print(f"round {rep + 1}/{args.reps} done", file=sys.stderr)
    info["load_average_end"] = os.getloadavg()
    peak_runs = [peak, fma_peak_gflops()]  # before and after
    peak = best_peak(*peak_runs)

    rows = []
    for n in names:
        if n not in CONFIGS:
            continue
        cfg = CONFIGS[n]
        for t in threads:
            row = {"config": n, "model": cfg["model"], "batch": cfg["batch"], "seq": cfg["seq"],
                   "lengths": cfg["lengths"], "threads": t, "metric": cfg["metric"], "target": cfg["target"][t]}
            for impl in ("bertc", "ort"):
                s = samples[(n, t, impl)]
                med = statistics.median(x["median_ms"] for x in s)
                row[impl] = {"median_ms": med, "min_ms": min(x["min_ms"] for x in s),
                             "sequences_per_second": cfg["batch"] / (med / 1e3), "processes": s}
            b, o = row["bertc"]["median_ms"], row["ort"]["median_ms"]
            row["ratio"] = b / o if cfg["metric"] == "latency" else o / b
            row["met"] = row["ratio"] <= row["target"] if cfg["metric"] == "latency" else row["ratio"] >= row["target"]
            rows.append(row)

    print(f"\n{info['cpu_model']}, {info['cores']} cores; bertc --cpu {args.cpu} ({info['bertc_commit']}), "
          f"ONNX Runtime {info['ort_version']}; {args.reps} interleaved processes x {args.runs} runs "
          f"(+{args.warmup} warm-up); FMA peak per core (this run, the higher of before and after): "
          + ", ".join(f"{isa} {g:.1f} GFLOP/s" for isa, g in peak.items()) + "\n")
    print("| config | threads | bertc median / min ms | ORT median / min ms | bertc seq/s | ORT seq/s "
          "| ratio | target | met? |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        what = "bertc/ORT time" if r["metric"] == "latency" else "bertc/ORT seq/s"
        bound = "≤" if r["metric"] == "latency" else "≥"
        print(f"| {r['config']} | {r['threads']} | {r['bertc']['median_ms']:.2f} / {r['bertc']['min_ms']:.2f} "
              f"| {r['ort']['median_ms']:.2f} / {r['ort']['min_ms']:.2f} "
              f"| {r['bertc']['sequences_per_second']:.1f} | {r['ort']['sequences_per_second']:.1f} "
              f"| {r['ratio']:.2f} ({what}) | {bound} {r['target']} | {'yes' if r['met'] else 'NO'} |")
    result = {"machine": info, "fma_peak_gflops_per_core": peak, "fma_peak_measurements": peak_runs, "cpu": args.cpu, "reps": args.reps,
              "runs": args.runs, "warmup": args.warmup, "seed": args.seed, "command": sys.argv,
              "ort_options": {"graph_optimization_level": "ORT_ENABLE_ALL", "inter_op_num_threads": 1,
                              "execution_mode": "ORT_SEQUENTIAL", "provider": "CPUExecutionProvider"},
              "rows": rows}
    if compiles:
        wall = statistics.median(c["wall_s"] for c in compiles)
        mem = statistics.median(c["peak_bytes"] for c in compiles)
        result["compile"] = {"model": COMPILE_MODEL, "wall_s_median": wall, "peak_bytes_median": mem,
                             "targets": COMPILE_TARGETS, "processes": compiles}
        print(f"\n`bertc --stats compile` {COMPILE_MODEL}, median of {len(compiles)}: wall {wall:.2f} s "
              f"(min {min(c['wall_s'] for c in compiles):.2f}; target ≤ {COMPILE_TARGETS['wall_s']:.0f} s: "
              f"{'yes' if wall <= COMPILE_TARGETS['wall_s'] else 'NO'}), peak memory {mem / 2**20:.0f} MiB = "
              f"{mem / 1e9:.2f} GB (target ≤ 3 GB: {'yes' if mem <= COMPILE_TARGETS['peak_bytes'] else 'NO'})")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
