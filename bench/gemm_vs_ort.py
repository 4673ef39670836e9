#!/usr/bin/env python3
"""bertc's GEMM kernels against ONNX Runtime's MatMul + Add, side by side, on
one core or on --threads T:

  bertc avx512   bertc_gemm_bench, bias epilogue, the AVX-512 kernel (where the
                 CPU has it); with T > 1, gemmParallel on a T-thread bertc_rt pool
  bertc avx2     the same with the AVX2 kernel forced
  libmodel-jit   with --impl libmodel-jit: bertc_libmodel_gemm_bench, the model
                 library's bertc_k_linear from the bitcode embedded in bertc,
                 JIT-compiled as `bertc bench` runs a model: the GEMM that
                 generated code calls (clang-19, where bertc_gemm_bench's
                 kernels are GCC-built), AVX-512 and AVX2
  ORT            a one-MatMul-one-Add ONNX model per shape (weight and bias as
                 initializers), T intra-op threads, ORT_ENABLE_ALL, output bound
                 once through IOBinding so no run allocates

on BERT's shapes M in {128, 1024} x (N, K) in {(768, 768), (2304, 768),
(3072, 768), (768, 3072)}. Each configuration runs in its own process, the
processes interleaved (A B C A B C ...) over --reps rounds so that machine
noise hits all alike; each process times every shape for --min-time seconds.
Reports GFLOP/s (2 M N K over the median time, the median over rounds), the
percentage of T times this machine's single-core FMA peak for the
configuration's ISA measured before and after in the same run, the higher of
the two (bench/fma.py; ORT against the widest ISA's), and each configuration
/ ORT. Writes the numbers as JSON
too (results/gemm_vs_ort.json, or gemm_vs_ort_Tt.json for T > 1).

    .venv/bin/python bench/gemm_vs_ort.py --bench build/bench/bertc_gemm_bench --reps 3
    .venv/bin/python bench/gemm_vs_ort.py --threads 2
    .venv/bin/python bench/gemm_vs_ort.py --impl kernels,libmodel-jit --json bench/results/libmodel_gemm_vs_ort.json
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

from fma import best_peak, fma_peak_gflops

HERE = Path(__file__).resolve().parent
SHAPES = [(m, n, k) for m in (128, 1024) for (n, k) in ((768, 768), (2304, 768), (3072, 768), (768, 3072))]


def ort_worker(min_time: float, threads: int) -> None:
    """Times ORT on every shape in this process: prints {"M,N,K": median seconds} as JSON."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    rng = np.random.default_rng(0)
    result = {}
    for m, n, k in SHAPES:
        w = rng.uniform(-1, 1, (k, n)).astype(np.float32)
        b = rng.uniform(-1, 1, (n,)).astype(np.float32)
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["A", "W"], ["AW"]), helper.make_node("Add", ["AW", "bias"], ["C"])],
            "gemm", [helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])],
            [helper.make_tensor_value_info("C", TensorProto.FLOAT, [m, n])],
            [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "bias")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8  # any ONNX Runtime of the last years reads it
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
        c = np.empty((m, n), dtype=np.float32)
        binding = sess.io_binding()
        binding.bind_cpu_input("A", a)
        binding.bind_output("C", "cpu", 0, np.float32, [m, n], c.ctypes.data)
        sess.run_with_iobinding(binding)  # warm-up
        times, start = [], time.perf_counter()
        while len(times) < 5 or time.perf_counter() - start < min_time:
            t0 = time.perf_counter()
            sess.run_with_iobinding(binding)
            times.append(time.perf_counter() - t0)
        result[f"{m},{n},{k}"] = statistics.median(times)
    print(json.dumps(result))


def bertc_run(bench: str, isa: str, min_time: float, threads: int) -> dict:
    """Times bertc on every shape in one process: {"M,N,K": median seconds}."""
    shapes = ";".join(f"{m},{n},{k}" for m, n, k in SHAPES)
    out = subprocess.run([bench, "--isa", isa, "--shapes", shapes, "--min-time", str(min_time), "--peak", "1",
                          "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    result = {}
    for line in out.splitlines():
        if not line.startswith("gemm "):
            continue
        f = dict(kv.split("=") for kv in line.split()[1:])
        result[f"{f['M']},{f['N']},{f['K']}"] = float(f["median_ms"]) / 1e3
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(HERE.parent / "build" / "bench" / "bertc_gemm_bench"))
    ap.add_argument("--libmodel-bench",
                    default=str(HERE.parent / "build" / "bench" / "bertc_libmodel_gemm_bench"))
    ap.add_argument("--impl", default="kernels", help="comma list: kernels (--bench), libmodel-jit (--libmodel-bench)")
    ap.add_argument("--isas", default="avx512,avx2", help="bertc ISAs to time (those the CPU lacks are skipped)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved rounds (processes per configuration)")
    ap.add_argument("--min-time", type=float, default=0.3, help="seconds timed per shape per process")
    ap.add_argument("--threads", type=int, default=1, help="threads for bertc's pool and ORT's intra-op pool")
    ap.add_argument("--json", default=None, help="default: bench/results/gemm_vs_ort.json, _Tt.json for T > 1")
    ap.add_argument("--ort-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ort_worker:
        return ort_worker(args.min_time, args.threads)
    if args.json is None:
        name = "gemm_vs_ort.json" if args.threads == 1 else f"gemm_vs_ort_{args.threads}t.json"
        args.json = str(HERE / "results" / name)

    peak = fma_peak_gflops()
    isas = [i for i in args.isas.split(",") if i in peak]
    benches = {"kernels": ("", args.bench), "libmodel-jit": ("libmodel-jit ", args.libmodel_bench)}
    # name -> (bench binary, isa); the kernels' names stay "avx512" / "avx2" as in earlier results.
    runs = {benches[impl][0] + isa: (benches[impl][1], isa) for impl in args.impl.split(",") for isa in isas}
    configs = [*runs, "ort"]
    samples = {c: {f"{m},{n},{k}": [] for m, n, k in SHAPES} for c in configs}
    for rep in range(args.reps):
        for c in configs:
            if c == "ort":
                out = subprocess.run([sys.executable, __file__, "--ort-worker", "--min-time", str(args.min_time),
                                      "--threads", str(args.threads)],
                                     check=True, capture_output=True, text=True,
                                     env={**os.environ, "OMP_NUM_THREADS": str(args.threads)}).stdout
                times = json.loads(out)
            else:
                times = bertc_run(runs[c][0], runs[c][1], args.min_time, args.threads)
            for shape, t in times.items():
                samples[c][shape].append(t)
        print(f"round {rep + 1}/{args.reps} done", file=sys.stderr)
    peak_runs = [peak, fma_peak_gflops()]  # before and after
    peak = best_peak(*peak_runs)

    widest = "avx512" if "avx512" in peak else "avx2"
    top = {c: args.threads * peak[runs[c][1] if c in runs else widest] for c in configs}  # of all the threads' cores
    rows = []
    for m, n, k in SHAPES:
        key = f"{m},{n},{k}"
        row = {"M": m, "N": n, "K": k}
        for c in configs:
            t = statistics.median(samples[c][key])
            g = 2 * m * n * k / t / 1e9
            row[c] = {"median_s": t, "gflops": g, "peak_pct": 100 * g / top[c], "samples": samples[c][key]}
        rows.append(row)

    cores = "One core" if args.threads == 1 else f"{args.threads} threads"
    print(f"\n{cores}, bias epilogue; median over {args.reps} interleaved processes of each process's median; "
          "FMA peak per core (this run, the higher of before and after): "
          + ", ".join(f"{isa} {g:.1f} GFLOP/s" for isa, g in peak.items()) + "\n")
    print("| M | N | K | " + " | ".join(f"{c} GFLOP/s (% of {runs[c][1] if c in runs else widest} peak)"
                                       for c in configs) + " | " + " | ".join(f"{c} / ORT" for c in runs) + " |")
    print("|---|---|---|" + "---|" * (len(configs) + len(runs)))
    for r in rows:
        print(f"| {r['M']} | {r['N']} | {r['K']} | "
              + " | ".join(f"{r[c]['gflops']:.1f} ({r[c]['peak_pct']:.1f})" for c in configs) + " | "
              + " | ".join(f"{r[c]['gflops'] / r['ort']['gflops']:.2f}" for c in runs) + " |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"fma_peak_gflops_per_core": peak,
                                           "fma_peak_measurements": peak_runs, "reps": args.reps,
                                           "min_time_s": args.min_time, "epilogue": "bias",
                                           "ort_level": "ORT_ENABLE_ALL", "threads": args.threads,
                                           "ort_threads": args.threads, "command": sys.argv,
                                           "shapes": rows},
                                          indent=2))


if __name__ == "__main__":
    main()
