#!/usr/bin/env python3
"""bertc on the CPU at each precision against what a user would pick
instead, side by side on the same machine in one run:

  bertc-fp32   `bertc bench --precision fp32` (exact)
  bertc-bf16   `bertc bench --precision bf16` (GEMM weights in bfloat16, fp32 accumulation)
  ort-fp32     ONNX Runtime, CPU EP, ORT_ENABLE_ALL
  ort-int8     ONNX Runtime on quantize_dynamic(per_channel=True, QInt8) of the same model
  ov-default   OpenVINO, its default precision (bf16 on a CPU with avx512_bf16 or AMX)
  ov-f32       OpenVINO with INFERENCE_PRECISION_HINT f32

on the configurations of cpu_vs_ort.py (BERT-base b1 s128, BERT-base b8
with lengths 16-128, 3-layer b1 s32), at each --threads. Every
(configuration, threads, engine) runs in its own process; the engines'
order rotates each round so noise hits all alike. The table gives, per
engine, the median over processes of each process's median (and the
minimum of minimums), and each engine's ratio to bertc-bf16's time.

Accuracy (--accuracy): on 16 sequences of random real-token lengths 16-128
of BERT-base, the minimum cosine over real tokens of each engine's
last_hidden_state: the peers against ORT fp32 on the same inputs, bertc
against the reference interpreter (`bench --compare`, fp32) on its own.

    .venv-bench/bin/python bench/cpu_vs_peers.py --bertc build/cmd/bertc --models build/bench --reps 3
    (models: .venv/bin/python bench/synthetic_bert.py -o build/bench/bert-base.onnx [--layers 3])
    (.venv-bench: python3 -m venv .venv-bench && .venv-bench/bin/pip install -r tools/requirements-bench.txt)

Writes bench/results/cpu_vs_peers.json: machine and CPU flags, versions,
command line, every process's figures.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cpu_vs_ort import CONFIGS, bertc_lengths, machine_info

HERE = Path(__file__).resolve().parent
ENGINES = ["bertc-fp32", "bertc-bf16", "ort-fp32", "ort-int8", "ov-default", "ov-f32"]


def feeds_for(names, batch, seq, lengths, seed):
    """Inputs by the benchmark's naming convention: the lengths bertc draws, ids in [1, 1000)."""
    import numpy as np

    real = np.arange(seq)[None, :] < np.array(lengths)[:, None]
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in names:
        if "mask" in name:
            feeds[name] = real.astype(np.int64)
        elif "type" in name:
            feeds[name] = np.zeros((batch, seq), dtype=np.int64)
        else:
            feeds[name] = np.where(real, rng.integers(1, 1000, (batch, seq)), 0).astype(np.int64)
    return feeds, real


def make_session(engine: str, model: str, threads: int):
    """A callable running the model on a feed dict, returning the outputs in model order."""
    if engine.startswith("ort"):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        return [i.name for i in sess.get_inputs()], lambda feeds: sess.run(None, feeds)
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    if engine == "ov-f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = core.compile_model(core.read_model(model), "CPU", config)
    request = compiled.create_infer_request()
    names = [i.get_any_name() for i in compiled.inputs]

    def run(feeds):
        request.infer(feeds)
        return [request.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]

    return names, run


def peer_worker(args) -> None:
    """One engine on one configuration in this process: prints {"times_ms", "lengths", "precision"} as JSON."""
    names, run = make_session(args.engine, args.model, args.threads)
    lengths = bertc_lengths(args.batch, args.seq, tuple(args.lengths) if args.lengths else None, args.seed)
    feeds, _ = feeds_for(names, args.batch, args.seq, lengths, args.seed)
    for _ in range(args.warmup):
        run(feeds)
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        run(feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    info = {"times_ms": times, "lengths": lengths}
    if args.engine.startswith("ov"):
        import openvino as ov

        core = ov.Core()
        info["precision"] = str(core.get_property("CPU", "INFERENCE_PRECISION_HINT")) if args.engine == "ov-default" else "f32"
    print(json.dumps(info))


def quantized(model: str, cache: Path) -> str:
    """ORT's dynamic int8 of `model` (per-channel weights), made once."""
    out = cache / (Path(model).stem + ".int8.onnx")
    if not out.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(model, str(out), per_channel=True, weight_type=QuantType.QInt8)
    return str(out)


def run_engine(args, engine: str, cfg: dict, threads: int, cache: Path) -> dict:
    model = str(Path(args.models) / cfg["model"])
    if engine.startswith("bertc"):
        cmd = [args.bertc, "bench", model, "--target=cpu", "--precision", engine.split("-")[1], "--batch",
               str(cfg["batch"]), "--seq", str(cfg["seq"]), "--threads", str(threads), "--runs", str(args.runs),
               "--warmup", str(args.warmup), "--seed", str(args.seed), "--json"]
        if cfg["lengths"]:
            cmd += ["--lengths", "uniform:{}-{}".format(*cfg["lengths"])]
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        return {"median_ms": statistics.median(out["times_ms"]), "min_ms": min(out["times_ms"]),
                "engine": out["engine"]}
    if engine == "ort-int8":
        model = quantized(model, cache)
    cmd = [sys.executable, __file__, "--worker", "--engine", engine, "--model", model, "--batch", str(cfg["batch"]),
           "--seq", str(cfg["seq"]), "--threads", str(threads), "--runs", str(args.runs), "--warmup",
           str(args.warmup), "--seed", str(args.seed)]
    if cfg["lengths"]:
        cmd += ["--lengths", *map(str, cfg["lengths"])]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True,
                                    env={**os.environ, "OMP_NUM_THREADS": str(threads)}).stdout)
    row = {"median_ms": statistics.median(out["times_ms"]), "min_ms": min(out["times_ms"])}
    if "precision" in out:
        row["precision"] = out["precision"]
    return row


def cosine_rows(a, b, real):
    """Minimum cosine over real tokens of two [batch, seq, hidden] arrays."""
    import numpy as np

    a, b = a[real].astype(np.float64), b[real].astype(np.float64)
    cos = (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    return float(cos.min())


def accuracy(args, cache: Path) -> dict:
    """Each engine's last_hidden_state against ORT fp32 on BERT-base, 16 sequences of lengths 16-128."""
    import numpy as np

    model = str(Path(args.models) / "bert-base.onnx")
    batch, seq = 16, 128
    lengths = bertc_lengths(batch, seq, (16, 128), args.seed)
    result = {}
    names, ref_run = make_session("ort-fp32", model, 2)
    feeds, real = feeds_for(names, batch, seq, lengths, args.seed)
    ref = ref_run(feeds)[0]
    for engine in ["ort-int8", "ov-default", "ov-f32"]:
        names, run = make_session(engine, quantized(model, cache) if engine == "ort-int8" else model, 2)
        result[engine] = cosine_rows(run({n: feeds[n] for n in names})[0], ref, real)
    # bertc: `bench --compare` against the reference interpreter on the
    # original model (fp32, as exact as ORT fp32), same batch and lengths
    # (its own random ids).
    for precision in ["fp32", "bf16"]:
        cmd = [args.bertc, "bench", model, "--target=cpu", "--precision", precision, "--batch", str(batch), "--seq",
               str(seq), "--lengths", "uniform:16-128", "--seed", str(args.seed), "--runs", "1", "--warmup", "0",
               "--compare", "--json"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            result[f"bertc-{precision}"] = f"bertc bench failed: {r.stderr.strip()}"
            continue
        result[f"bertc-{precision}"] = json.loads(r.stdout)["min_cosine"]["last_hidden_state"]
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bertc", default=str(HERE.parent / "build" / "cmd" / "bertc"))
    ap.add_argument("--models", default=str(HERE.parent / "build" / "bench"),
                    help="folder with bert-base.onnx and bert-3l.onnx (bench/make_bert_base.py)")
    ap.add_argument("--reps", type=int, default=3, help="rounds (processes per configuration and engine)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--accuracy", action="store_true", help="also the minimum cosine against ORT fp32")
    ap.add_argument("--json", default=str(HERE / "results" / "cpu_vs_peers.json"))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seq", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--lengths", type=int, nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.threads = int(args.threads)
        return peer_worker(args)
    engines = args.engines.split(",")
    if unknown := [e for e in engines if e not in ENGINES]:
        sys.exit(f"cpu_vs_peers: unknown engines {unknown}; known: {', '.join(ENGINES)}")
    names = args.configs.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    info = machine_info(args)
    flags = re.search(r"^flags\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M).group(1).split()
    info["isa_flags"] = sorted(f for f in flags if re.match(r"avx512|amx|avx_vnni|avx2|fma|f16c", f))
    import onnxruntime
    import openvino

    info["openvino_version"] = openvino.__version__
    info["ort_version"] = onnxruntime.__version__
    info["load_average_start"] = os.getloadavg()
    samples = {(n, t, e): [] for n in names for t in threads for e in engines}
    with tempfile.TemporaryDirectory() as cache:
        for rep in range(args.reps):
            order = engines[rep % len(engines):] + engines[:rep % len(engines)]
            for n in names:
                for t in threads:
                    for e in order:
                        samples[(n, t, e)].append(run_engine(args, e, CONFIGS[n], t, Path(cache)))
            print(f"round {rep + 1}/{args.reps} done", file=sys.stderr)
        acc = accuracy(args, Path(cache)) if args.accuracy else None
    info["load_average_end"] = os.getloadavg()

    rows = []
    for n in names:
        cfg = CONFIGS[n]
        for t in threads:
            row = {"config": n, "batch": cfg["batch"], "seq": cfg["seq"], "lengths": cfg["lengths"], "threads": t}
            for e in engines:
                s = samples[(n, t, e)]
                row[e] = {"median_ms": statistics.median(x["median_ms"] for x in s),
                          "min_ms": min(x["min_ms"] for x in s), "processes": s}
            rows.append(row)
    print(f"\n{info['cpu_model']}, {info['cores']} cores, flags {' '.join(info['isa_flags'])}; "
          f"bertc {info['bertc_commit']}, ONNX Runtime {info['ort_version']}, OpenVINO {info['openvino_version']}; "
          f"{args.reps} rotating processes x {args.runs} runs (+{args.warmup} warm-up)\n")
    print("| config | threads | " + " | ".join(f"{e} ms" for e in engines) + " |")
    print("|---|---|" + "---|" * len(engines))
    for r in rows:
        print(f"| {r['config']} | {r['threads']} | "
              + " | ".join(f"{r[e]['median_ms']:.2f} / {r[e]['min_ms']:.2f}" for e in engines) + " |")
    if "bertc-bf16" in engines:
        print("\nbertc-bf16 time / peer time (median):")
        for r in rows:
            b = r["bertc-bf16"]["median_ms"]
            print(f"  {r['config']} {r['threads']}t: "
                  + ", ".join(f"{e} {b / r[e]['median_ms']:.2f}" for e in engines if e != "bertc-bf16"))
    if acc:
        print("\nminimum cosine of last_hidden_state vs ORT fp32 (BERT-base, 16 x lengths 16-128): "
              + ", ".join(f"{k} {v if isinstance(v, str) else f'{v:.6f}'}" for k, v in acc.items()))
    result = {"machine": info, "reps": args.reps, "runs": args.runs, "warmup": args.warmup, "seed": args.seed,
              "command": sys.argv, "rows": rows, "accuracy_min_cosine_vs_ort_fp32": acc}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
