#!/usr/bin/env python3
"""bertc's CUDA fp16 BERT-base against PyTorch on the same weights and inputs, in two phases on
two machines: the GPU machine has CUDA and Python (PyTorch and transformers if it can) but no
bertc, and nothing big needs to travel to it.

  prepare   (where bertc is built; NumPy, onnx, no torch) makes BERT-base (12 layers, hidden 768,
            12 heads, FFN 3072, vocab 30522, 512 positions) with bench/synthetic_bert.py's weights
            of seed --seed, compiles it with `bertc compile --target=cuda-fp16 --max-batch 8
            --max-seq 128 --name m --weights-file m.weights`, and writes to --out a folder that is
            all the GPU machine needs: m.o (plan and kernels, 0.3 MB), m.h, m.weights.xz (bertc's
            219 MB of fp16 weights, which compress to under 1 MB: see synthetic_bert.py),
            config.json, meta.json, the runtime stub's sources (runtime/), cuda_bench_host.c,
            build.sh, synthetic_bert.py and this script.

  run       (on the GPU machine, in that folder) unpacks m.weights, builds cuda_bench_host with
            build.sh, checks bertc's last_hidden_state against a float32 reference on the same
            weights (transformers' BertModel with TF32 off, built there from config.json and
            synthetic_bert.state_dict; NumPy's synthetic_bert.reference where PyTorch is missing):
            cosine and max abs error over the real tokens, then times, interleaved over --reps
            rounds (bertc, PyTorch, ... then the reverse order next round):

  b1s128    batch 1, sequence 128                      goals: bertc <= 0.30 ms (H100) and
                                                              <= 0.5x PyTorch eager fp16
  b8s128    batch 8, sequence 128
  b8var     batch 8, sequence 128, lengths uniform in 16..128 (NumPy, seed --seed), right-padded
            with attention_mask; every engine gets the same padded [8, 128] inputs

Engines. bertc: cuda_bench_host timing m_run_device on device buffers (its GEMMs cover all
batch * seq rows). bertc-host: m_run on pinned host buffers, which packs the GEMMs to the real
tokens; it is synchronous and timed by the host clock, copies in and out and the host's id check
included. eager, sdpa: transformers' BertModel in fp16 with attn_implementation "eager" or
"sdpa". compile:MODE: torch.compile(mode=MODE) of the sdpa model, one engine per
--compile-modes entry (a failure to compile is reported as skipped). Without PyTorch (or without
a GPU it sees) only the bertc engines run, and the run says so.

Timing. Every engine but bertc-host times each iteration alike: a CUDA event, the call, a CUDA
event, wait for it; the event interval is the time. Each round runs --warmup untimed iterations then --iters
timed ones per engine (bertc in a fresh process per round). The table gives the median over
rounds of each round's median, the minimum over all iterations, and bertc / engine of the
medians.

    python3 bench/cuda_vs_torch.py prepare --out /tmp/cudabench     # here
    cd cudabench && python3 cuda_vs_torch.py run                      # on the GPU machine

bench/README_cuda.md has the details; tools/gpu_session.py carries it with the correctness
check in one archive and runs both in one command.

run writes cuda_vs_torch_results.json (or --json) with the GPU's name, versions, every round's
times and the check, appends each check and table row to --jsonl as it comes, and prints a
table. It exits with 1 when the check fails.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CONFIGS = {
    "b1s128": dict(batch=1, seq=128, lengths=None),
    "b8s128": dict(batch=8, seq=128, lengths=None),
    "b8var": dict(batch=8, seq=128, lengths=(16, 128)),
}
GOAL_CONFIG = "b1s128"
GOAL_MS = 0.30          # bertc median, H100
GOAL_EAGER_RATIO = 0.5  # bertc / PyTorch eager fp16, medians

# The model's hyperparameters, all a BertConfig needs; written to config.json so that any
# transformers version rebuilds the same architecture.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")  # the model's, in order
RUNTIME_FILES = ("bertc_rt.h", "internal.h", "error.c", "arena.c", "pool.c", "weights.c", "cuda/bertc_cuda.h",
                 "cuda/runtime.cpp", "cuda/alignment.h", "cuda/run_order.h")
WEIGHTS = "m.weights"  # bertc's side file, recorded in m.o relative to the folder (run from there)
HOST = "cuda_bench_host"

BUILD_SH = r"""#!/usr/bin/env bash
# Builds cuda_bench_host: cuda_bench_host.c + m.o + the runtime stub (runtime/), linked with
# cudart and cuBLASLt. Written by bench/cuda_vs_torch.py prepare; `cuda_vs_torch.py run` calls it.
# Needs gcc and g++ (or CC, CXX) and the CUDA toolkit's headers and libraries, looked for in
# CUDA_HOME, CUDA_PATH, /usr/local/cuda, nvcc's folder on PATH, then the nvidia-* pip wheels
# PyTorch installs; the first place that has all four files wins. No GPU is needed to build.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")"
CC=${CC:-gcc}
CXX=${CXX:-g++}

roots=()
for r in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do [[ -n $r ]] && roots+=("$r"); done
if command -v nvcc >/dev/null; then roots+=("$(dirname "$(dirname "$(command -v nvcc)")")"); fi
if command -v "${PYTHON:-python3}" >/dev/null; then
  while IFS= read -r r; do roots+=("$r"); done < <("${PYTHON:-python3}" -c \
    'import nvidia; print("\n".join(nvidia.__path__))' 2>/dev/null || true)
fi

# find_in ROOT PATTERN...: the first file matching a PATTERN (in order) under ROOT's include and
# lib folders: the toolkit's, its targets/<platform>/ ones, and the wheels' <package>/ ones.
find_in() {
  local root=$1 name f
  shift
  for name in "$@"; do
    for f in "$root"/{include,lib64,lib}/$name "$root"/targets/*/{include,lib}/$name "$root"/*/{include,lib}/$name; do
      [[ -f $f ]] && { echo "$f"; return 0; }
    done
  done
  return 1
}

found=
for r in "${roots[@]}"; do
  rt_h=$(find_in "$r" cuda_runtime_api.h) || continue
  lt_h=$(find_in "$r" cublasLt.h) || continue
  rt_so=$(find_in "$r" libcudart.so 'libcudart.so.[0-9]*') || continue
  lt_so=$(find_in "$r" libcublasLt.so 'libcublasLt.so.[0-9]*') || continue
  found=$r
  break
done
if [[ -z $found ]]; then
  echo "build.sh: no CUDA toolkit with cuda_runtime_api.h, cublasLt.h, libcudart and libcublasLt in:" >&2
  printf '  %s\n' "${roots[@]}" >&2
  echo "set CUDA_HOME to the toolkit's folder (the one holding include/ and lib64/)" >&2
  exit 1
fi
echo "build.sh: CUDA from $found"
inc=(-I. -Iruntime -Iruntime/cuda -I"$(dirname "$rt_h")" -I"$(dirname "$lt_h")")

mkdir -p obj
for f in error arena pool weights; do
  "$CC" -std=c11 -O2 -fPIC -Wall -Wextra -Iruntime -c "runtime/$f.c" -o "obj/$f.o"
done
"$CXX" -std=c++17 -O2 -fPIC -Wall -Wextra "${inc[@]}" -c runtime/cuda/runtime.cpp -o obj/runtime.o
"$CC" -std=c11 -O2 -Wall -Wextra "${inc[@]}" -c cuda_bench_host.c -o obj/cuda_bench_host.o
"$CXX" -o cuda_bench_host obj/cuda_bench_host.o m.o obj/runtime.o obj/error.o obj/arena.o obj/pool.o obj/weights.o \
  "$rt_so" "$lt_so" -Wl,-rpath,"$(dirname "$rt_so")" -Wl,-rpath,"$(dirname "$lt_so")" -lpthread -ldl -lrt
echo "build.sh: built $(pwd)/cuda_bench_host"
"""


def fail(msg: str):
    sys.exit(f"cuda_vs_torch: {msg}")


def import_torch():
    """(torch, transformers), or (None, why) when they cannot be imported."""
    try:
        import torch
        import transformers
    except ImportError as e:
        return None, f"no PyTorch here ({e})"
    return torch, transformers


def git(repo: Path, *args):
    r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


# ----------------------------------------------------------------------------------------- prepare

def prepare(args):
    import lzma
    import numpy as np
    import onnx
    sys.path.insert(0, str(HERE))
    import synthetic_bert
    bertc = Path(args.bertc)
    if not bertc.is_file() or not os.access(bertc, os.X_OK):
        fail(f"no bertc at {bertc}: build it (cmd/bertc) or pass --bertc")
    host_src = HERE / "cuda_bench_host.c"
    runtime = REPO / "runtime_stub"
    for f in [host_src, REPO / synthetic_bert.TEMPLATE, *(runtime / r for r in RUNTIME_FILES)]:
        if not f.is_file():
            fail(f"{f} is missing: run prepare from bench/ of a bertc checkout")
    # m.o (from the bertc binary) and the runtime copied below (from the sources) must agree.
    newer = [f for d in ("codegen_cuda", "runtime_stub") for f in (REPO / d).rglob("*")
             if f.suffix in (".h", ".c", ".cpp", ".cuh") and f.stat().st_mtime > bertc.stat().st_mtime]
    if newer:
        print(f"cuda_vs_torch: warning: {len(newer)} sources are newer than {bertc} (e.g. {newer[0]}): "
              f"rebuild it so that m.o and the runtime stub copied here agree", file=sys.stderr)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    config = {**synthetic_bert.BERT_BASE, "num_hidden_layers": args.layers}
    state = synthetic_bert.state_dict(config, args.seed)
    (out / "config.json").write_text(json.dumps({**config, "seed": args.seed}, indent=2) + "\n")
    print(f"made the weights of seed {args.seed} ({sum(v.size for v in state.values()) / 1e6:.1f} M parameters)")

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = (out if args.keep_onnx else Path(tmp)) / "bert-base.onnx"
        onnx.save(synthetic_bert.to_onnx(config, state, REPO / synthetic_bert.TEMPLATE), str(onnx_path))
        del state
        print(f"wrote {onnx_path} (the TorchScript opset-17 export's graph, from {synthetic_bert.TEMPLATE})")
        # Run in --out, so that m.o records the side file's path relative to the folder.
        cmd = [str(bertc.resolve()), "compile", str(onnx_path.resolve()), "--target=cuda-fp16", "-o", "m.o", "--name",
               "m", "--max-batch", str(args.max_batch), "--max-seq", str(args.max_seq), "--weights-file", WEIGHTS]
        if args.arch:
            cmd += ["--arch", args.arch]
        t1 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=out)
        if r.returncode != 0:
            fail(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        compile_s = time.time() - t1
        print(r.stdout.strip() or r.stderr.strip())
    raw = (out / WEIGHTS).read_bytes()
    (out / (WEIGHTS + ".xz")).write_bytes(lzma.compress(raw, preset=1))
    (out / WEIGHTS).unlink()
    print(f"compressed {WEIGHTS}: {len(raw) / 1e6:.1f} MB -> {(out / (WEIGHTS + '.xz')).stat().st_size / 1e6:.2f} MB")

    (out / "runtime" / "cuda").mkdir(parents=True, exist_ok=True)
    for f in RUNTIME_FILES:
        shutil.copy2(runtime / f, out / "runtime" / f)
    shutil.copy2(host_src, out / host_src.name)
    shutil.copy2(Path(__file__).resolve(), out / "cuda_vs_torch.py")
    shutil.copy2(HERE / "synthetic_bert.py", out / "synthetic_bert.py")
    (out / "build.sh").write_text(BUILD_SH)
    (out / "build.sh").chmod(0o755)
    meta = {"model": f"BERT {args.layers} layers, bench/synthetic_bert.py's weights of seed {args.seed}",
            "layers": args.layers, "seed": args.seed, "max_batch": args.max_batch, "max_seq": args.max_seq,
            "arch": args.arch, "bertc": str(bertc.resolve()), "bertc_commit": git(REPO, "rev-parse", "HEAD"),
            "bertc_tree_dirty": bool(git(REPO, "status", "--porcelain", "--untracked-files=no")),
            "bertc_compile_s": round(compile_s, 2), "weights_bytes": len(raw), "command": sys.argv,
            "prepared_with": {"numpy": np.__version__, "onnx": onnx.__version__,
                              "python": platform.python_version()}}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"prepared {out.resolve()} in {time.time() - t0:.0f} s; on the GPU machine: "
          f"cd {out.name} && python3 cuda_vs_torch.py run")

    if args.try_build:  # links here too, without a GPU: catches a missing symbol before the trip
        r = subprocess.run(["bash", str(out / "build.sh")], capture_output=True, text=True,
                           env={**os.environ, "PYTHON": sys.executable})
        if r.returncode != 0:
            fail(f"build.sh failed:\n{r.stdout}{r.stderr}")
        # The GPU machine builds its own; the folder stays lean.
        shutil.rmtree(out / "obj")
        (out / HOST).unlink()
        print(f"{r.stdout.strip()}\nbuild.sh works here (its products are removed: run builds them there)")


# --------------------------------------------------------------------------------------------- run

def make_inputs(cfg: dict, vocab: int, seed: int):
    """Right-padded [batch, seq] int64 inputs: ids in [1, vocab) on real tokens and 0 on padding,
    token type 1 on the second half of each sequence, and the lengths."""
    import numpy as np
    rng = np.random.default_rng(seed)
    b, s = cfg["batch"], cfg["seq"]
    lengths = np.full(b, s) if cfg["lengths"] is None else rng.integers(cfg["lengths"][0], cfg["lengths"][1] + 1, b)
    pos = np.arange(s)[None, :]
    real = pos < lengths[:, None]
    feeds = {"input_ids": np.where(real, rng.integers(1, vocab, (b, s)), 0),
             "attention_mask": real.astype(np.int64),
             "token_type_ids": (real & (pos >= lengths[:, None] // 2)).astype(np.int64)}
    return {k: v.astype(np.int64) for k, v in feeds.items()}, [int(x) for x in lengths]


def summarize(times):
    return {"median_ms": statistics.median(times), "min_ms": min(times)}


class Bertc:
    """cuda_bench_host, one process per call: m_run_device (api "device") or m_run ("host")."""

    def __init__(self, folder: Path, api: str, device: int):
        self.folder, self.api, self.device = folder, api, device

    def run(self, name: str, cfg: dict, iters: int, warmup: int, dump: Path = None) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            js = Path(tmp) / "out.json"
            cmd = [str(self.folder / HOST), "--batch", str(cfg["batch"]), "--seq", str(cfg["seq"]),
                   "--inputs", str(self.folder / "inputs" / name), "--iters", str(iters), "--warmup", str(warmup),
                   "--api", self.api, "--device", str(self.device), "--out-json", str(js),
                   "--weights", str(self.folder / WEIGHTS)]
            if dump:
                cmd += ["--dump-output", str(dump)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                fail(f"bertc ({HOST} --api {self.api}) failed on {name} with {r.returncode}:\n"
                     f"{r.stderr.strip()}\ncommand: {' '.join(cmd)}")
            return json.loads(js.read_text())

    def time(self, name, cfg, feeds, iters, warmup):
        out = self.run(name, cfg, iters, warmup)
        return out["times_ms"] if self.api == "device" else out["wall_ms"]


class Torch:
    """A PyTorch callable on CUDA tensors, timed in this process like cuda_bench_host times bertc."""

    def __init__(self, torch, fn, compiled=False):
        self.torch, self.fn, self.compiled = torch, fn, compiled

    def call(self, feeds):
        if self.compiled and hasattr(self.torch.compiler, "cudagraph_mark_step_begin"):
            self.torch.compiler.cudagraph_mark_step_begin()  # reduce-overhead: a new step, outputs may be reused
        return self.fn(**feeds)

    def time(self, name, cfg, feeds, iters, warmup):
        torch = self.torch
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        with torch.inference_mode():
            for _ in range(warmup):
                self.call(feeds)
            torch.cuda.synchronize()
            times = []
            for _ in range(iters):
                start.record()
                self.call(feeds)
                stop.record()
                stop.synchronize()
                times.append(start.elapsed_time(stop))
        return times


def synthetic(folder: Path):
    """(config, state_dict as NumPy) from config.json and synthetic_bert.py beside this script."""
    sys.path.insert(0, str(folder))
    import synthetic_bert
    config = json.loads((folder / "config.json").read_text())
    seed = config.pop("seed")
    return config, synthetic_bert.state_dict(config, seed)


def load_model(torch, transformers, folder: Path, impl: str, dtype):
    """BertModel of config.json with synthetic_bert's weights and attention `impl`, on the GPU."""
    config, state = synthetic(folder)
    cfg = transformers.BertConfig(**config)
    model = transformers.BertModel._from_config(cfg, attn_implementation=impl)
    if model.config._attn_implementation != impl:
        fail(f"transformers {transformers.__version__} gave attention '{model.config._attn_implementation}' "
             f"when asked for '{impl}'")
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    buffers = ("position_ids", "token_type_ids")  # non-persistent buffers in some transformers versions
    bad = [k for k in [*missing, *unexpected] if not k.endswith(buffers)]
    if bad:
        fail(f"synthetic_bert's parameters do not fit transformers {transformers.__version__}'s BertModel: {bad[:5]}")
    return model.eval().to(device="cuda", dtype=dtype)


def why(ex: Exception) -> str:
    """An exception in one line, for the skipped list."""
    text = str(ex).strip()
    return f"{type(ex).__name__}: {text.splitlines()[0] if text else ''}"


def validate(args, folder: Path):
    """The prepared folder, configs and engines, checked before anything slow starts."""
    need = ["m.o", "m.h", "config.json", "meta.json", "build.sh", f"{HOST}.c", "synthetic_bert.py"]
    missing = [f for f in need if not (folder / f).exists()]
    if not (folder / WEIGHTS).exists() and not (folder / (WEIGHTS + ".xz")).exists():
        missing.append(WEIGHTS + ".xz")
    if missing:
        fail(f"{folder} lacks {', '.join(missing)}: pass --dir, or run in the folder "
             f"`cuda_vs_torch.py prepare --out` wrote")
    meta = json.loads((folder / "meta.json").read_text())
    names = args.configs.split(",")
    for n in names:
        if n not in CONFIGS:
            fail(f"unknown config {n}; known: {', '.join(CONFIGS)}")
        c = CONFIGS[n]
        if c["batch"] > meta["max_batch"] or c["seq"] > meta["max_seq"]:
            fail(f"{n} needs batch {c['batch']}, seq {c['seq']}; m.o was compiled for at most "
                 f"{meta['max_batch']} x {meta['max_seq']}")
    engines = [e for e in args.engines.split(",") if e]
    if not set(engines) <= {"bertc", "bertc-host", "eager", "sdpa", "compile"} or "bertc" not in engines:
        fail(f"--engines takes bertc (required), bertc-host, eager, sdpa, compile; got {args.engines}")
    return meta, names, engines


def make_engines(torch, transformers, args, folder: Path, engine_names, names, cuda_feeds):
    """The engines by name, and the ones skipped with why. torch.compile engines are compiled here
    (their first calls, on every config's shape), outside the timed rounds."""
    engines, skipped = {}, {}
    for e in engine_names:
        if e in ("bertc", "bertc-host"):
            engines[e] = Bertc(folder, "device" if e == "bertc" else "host", args.device)
        elif e in ("eager", "sdpa"):
            engines[e] = Torch(torch, load_model(torch, transformers, folder, e, torch.float16))
        else:
            for mode in [m for m in args.compile_modes.split(",") if m]:
                name = f"compile:{mode}"
                try:
                    model = load_model(torch, transformers, folder, "sdpa", torch.float16)
                    engine = Torch(torch, torch.compile(model, mode=mode, dynamic=False), compiled=True)
                    with torch.inference_mode():
                        for n in names:
                            for _ in range(3):  # reduce-overhead records its CUDA graph after a warm-up call
                                engine.call(cuda_feeds[n])
                    torch.cuda.synchronize()
                    engines[name] = engine
                except Exception as ex:  # noqa: BLE001 - any failure to compile is a skip, not the end
                    skipped[name] = why(ex)
                    print(f"skipped {name}: {skipped[name]}", file=sys.stderr)
    return engines, skipped


def check_output(np, got, ref, mask) -> dict:
    """Per real token: cosine similarity of the hidden vectors; max abs error over real tokens."""
    real = mask.astype(bool)
    g, r = got[real].astype(np.float64), ref[real].astype(np.float64)
    cos = (g * r).sum(-1) / (np.linalg.norm(g, axis=-1) * np.linalg.norm(r, axis=-1) + 1e-30)
    return {"cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
            "max_abs_err": float(np.abs(g - r).max()), "ref_max_abs": float(np.abs(r).max()),
            "finite": bool(np.isfinite(g).all())}


def check_bertc(torch, transformers, np, args, folder: Path, engines, names, inputs, cuda_feeds, log):
    """bertc's last_hidden_state (each bertc API) against float32 on the same inputs: PyTorch's
    BertModel (TF32 off), or NumPy's synthetic_bert.reference without PyTorch; PyTorch SDPA fp16's
    error is given for scale. bertc writes 0 at padded tokens: that is checked too."""
    if torch:
        ref_model = load_model(torch, transformers, folder, "eager", torch.float32)
        reference = "PyTorch fp32"
    else:
        config, state = synthetic(folder)
        import synthetic_bert  # beside this script: synthetic() put the folder on the path
        reference = "NumPy fp32"
    checks = []
    for n in names:
        if torch:
            with torch.inference_mode():
                ref = ref_model(**cuda_feeds[n]).last_hidden_state.float().cpu().numpy()
        else:
            ref = synthetic_bert.reference(config, state, inputs[n])[0]
        mask = inputs[n]["attention_mask"]
        if "sdpa" in engines:
            with torch.inference_mode():
                half = engines["sdpa"].call(cuda_feeds[n]).last_hidden_state.float().cpu().numpy()
            checks.append({"config": n, "engine": "sdpa", "reference": reference, **check_output(np, half, ref, mask)})
            log({"check": checks[-1]})
        for e in [e for e in ("bertc", "bertc-host") if e in engines]:
            dump = folder / "inputs" / n / f"{e}_last_hidden_state.f32"
            engines[e].run(n, CONFIGS[n], iters=1, warmup=0, dump=dump)
            got = np.fromfile(dump, dtype=np.float32).reshape(ref.shape)
            c = {"config": n, "engine": e, "reference": reference, **check_output(np, got, ref, mask),
                 "padding_is_zero": bool((got[~mask.astype(bool)] == 0).all())}
            c["ok"] = c["finite"] and c["cosine_min"] >= args.min_cosine and c["padding_is_zero"]
            checks.append(c)
            log({"check": c})
    if torch:
        del ref_model
        torch.cuda.empty_cache()
    return checks


def time_rounds(args, engines, names, cuda_feeds, skipped, log):
    """--reps rounds; in each, every config on every engine, in order on even rounds and in reverse
    on odd ones, so that drift (clocks, temperature) hits all engines alike."""
    order = list(engines)
    samples = {(n, e): [] for n in names for e in order}
    for rep in range(args.reps):
        for n in names:
            for e in order if rep % 2 == 0 else order[::-1]:
                try:
                    times = engines[e].time(n, CONFIGS[n], cuda_feeds[n], args.iters, args.warmup)
                except Exception as ex:  # noqa: BLE001 - a PyTorch engine failing mid-run is reported
                    if isinstance(engines[e], Bertc):
                        raise
                    skipped[f"{e} on {n}"] = why(ex)
                    continue
                samples[(n, e)].append({**summarize(times), "times_ms": times})
                log({"round": rep, "config": n, "engine": e, **summarize(times)})
        print(f"round {rep + 1}/{args.reps} done", file=sys.stderr)
    return samples


def tabulate(samples, names, engines, lengths):
    """A row per (config, engine): median of the rounds' medians, min of everything, bertc / engine."""
    rows = []
    for n in names:
        bertc_ms = statistics.median(s["median_ms"] for s in samples[(n, "bertc")])
        for e in engines:
            s = samples[(n, e)]
            if not s:
                continue
            med = statistics.median(x["median_ms"] for x in s)
            rows.append({"config": n, "engine": e, "batch": CONFIGS[n]["batch"], "seq": CONFIGS[n]["seq"],
                         "lengths": lengths[n], "median_ms": med, "min_ms": min(x["min_ms"] for x in s),
                         "sequences_per_second": CONFIGS[n]["batch"] / (med / 1e3),
                         "bertc_over_engine": bertc_ms / med, "rounds": s})
    goals = {}
    row = {(r["config"], r["engine"]): r for r in rows}
    if (GOAL_CONFIG, "bertc") in row:
        ms = row[(GOAL_CONFIG, "bertc")]["median_ms"]
        goals["bertc_b1s128_ms"] = {"value": ms, "goal": GOAL_MS, "met": ms <= GOAL_MS}
    if (GOAL_CONFIG, "eager") in row:
        ratio = row[(GOAL_CONFIG, "eager")]["bertc_over_engine"]
        goals["bertc_over_eager_b1s128"] = {"value": ratio, "goal": GOAL_EAGER_RATIO, "met": ratio <= GOAL_EAGER_RATIO}
    return rows, goals


def report(result: dict, names, lengths):
    labels = {"bertc": "bertc m_run_device", "bertc-host": "bertc m_run (host buffers, packed; wall clock)",
              "eager": "PyTorch eager fp16", "sdpa": "PyTorch SDPA fp16"}
    meta, r = result["prepare"], result
    print(f"\n{r['gpu']}; bertc {meta.get('bertc_commit')}{' (dirty tree)' if meta.get('bertc_tree_dirty') else ''}; "
          f"torch {r['torch']} (CUDA {r['torch_cuda']}), transformers {r['transformers']}; {r['reps']} interleaved "
          f"rounds x {r['iters']} iterations (+{r['warmup']} warm-up)"
          + "".join(f"; {n} lengths {lengths[n]}" for n in names if CONFIGS[n]["lengths"]) + "\n")
    print("| config | engine | median ms | min ms | seq/s | bertc / engine |")
    print("|---|---|---|---|---|---|")
    for row in r["rows"]:
        mode = row["engine"].partition(":")[2]
        label = labels.get(row["engine"], f"PyTorch SDPA fp16, torch.compile(mode={mode})")
        print(f"| {row['config']} | {label} | {row['median_ms']:.3f} | {row['min_ms']:.3f} | "
              f"{row['sequences_per_second']:.0f} | {row['bertc_over_engine']:.2f} |")
    print()
    for k, g in r["goals"].items():
        unit = "ms" if k.endswith("_ms") else "x"
        print(f"goal {k}: {g['value']:.3f} {unit} (<= {g['goal']} {unit}): {'met' if g['met'] else 'NOT MET'}")
    for c in r["checks"]:
        verdict = "" if "ok" not in c else ("  ok" if c["ok"] else "  CHECK FAILED")
        print(f"check {c['config']} {c['engine']} vs {c['reference']}: cosine min {c['cosine_min']:.6f} "
              f"mean {c['cosine_mean']:.6f}, max abs err {c['max_abs_err']:.4f} (|ref| <= {c['ref_max_abs']:.2f})"
              f"{'' if c.get('padding_is_zero', True) else ', padding NOT zero'}{verdict}")
    for name, text in r["skipped"].items():
        print(f"skipped {name}: {text}")


def gpu_name_without_torch(device: int) -> str:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return "unknown GPU (no PyTorch, no nvidia-smi)"
    r = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader", "-i", str(device)], capture_output=True,
                       text=True)
    return r.stdout.strip() or "unknown GPU"


def run(args):
    import lzma
    import numpy as np
    folder = Path(args.dir).resolve()
    meta, names, engine_names = validate(args, folder)
    jsonl = Path(args.jsonl) if args.jsonl else None

    def log(record):
        if jsonl:
            with jsonl.open("a") as f:
                f.write(json.dumps(record) + "\n")

    if not (folder / WEIGHTS).exists():
        (folder / WEIGHTS).write_bytes(lzma.decompress((folder / (WEIGHTS + ".xz")).read_bytes()))
    torch, transformers = import_torch()
    if torch and not torch.cuda.is_available():
        torch, transformers = None, f"PyTorch {torch.__version__} sees no CUDA device"
    if not torch:
        dropped = [e for e in engine_names if e not in ("bertc", "bertc-host")]
        print(f"cuda_vs_torch: {transformers}: the reference is NumPy's, and {', '.join(dropped) or 'no engine'} "
              f"will not run", file=sys.stderr)
        log({"torch": None, "why": transformers, "dropped": dropped})
        engine_names = [e for e in engine_names if e in ("bertc", "bertc-host")]
    if not args.no_build:
        r = subprocess.run(["bash", str(folder / "build.sh")], capture_output=True, text=True,
                           env={**os.environ, "PYTHON": sys.executable})  # its pip wheels, if no toolkit
        if r.returncode != 0:
            fail(f"build.sh failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        print(r.stdout.strip(), file=sys.stderr)
    if not (folder / HOST).exists():
        fail(f"{folder / HOST} is missing: run build.sh (or drop --no-build)")

    if torch:
        torch.cuda.set_device(args.device)
        gpu = torch.cuda.get_device_name(args.device)
        # The fp32 reference in full fp32: no TF32 in its matmuls.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        versions = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
                    "transformers": transformers.__version__}
    else:
        gpu = gpu_name_without_torch(args.device)
        versions = {"torch": None, "torch_cuda": None, "transformers": None}
    print(f"{gpu}; {versions}", file=sys.stderr)
    log({"gpu": gpu, **versions})

    # The inputs, written where cuda_bench_host reads them (--inputs) and kept on the GPU for PyTorch.
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    inputs, lengths = {}, {}
    for n in names:
        inputs[n], lengths[n] = make_inputs(CONFIGS[n], vocab, args.seed)
        (folder / "inputs" / n).mkdir(parents=True, exist_ok=True)
        for k, v in inputs[n].items():
            v.tofile(folder / "inputs" / n / f"{k}.i64")
    cuda_feeds = {n: {k: torch.from_numpy(v).cuda() for k, v in f.items()} for n, f in inputs.items()} if torch else {}

    engines, skipped = make_engines(torch, transformers, args, folder, engine_names, names, cuda_feeds)
    checks = check_bertc(torch, transformers, np, args, folder, engines, names, inputs, cuda_feeds, log)
    samples = time_rounds(args, engines, names, cuda_feeds, skipped, log)
    rows, goals = tabulate(samples, names, list(engines), lengths)

    result = {"gpu": gpu, **versions, "python": platform.python_version(), "prepare": meta,
              "command": sys.argv, "reps": args.reps, "iters": args.iters, "warmup": args.warmup,
              "seed": args.seed, "min_cosine": args.min_cosine, "goals": goals, "checks": checks,
              "skipped": skipped, "rows": rows}
    report(result, names, lengths)
    for row in rows:
        log({"row": {k: v for k, v in row.items() if k != "rounds"}})
    log({"goals": goals, "final": True, "ok": all(c.get("ok", True) for c in checks)})
    out = Path(args.json) if args.json else folder / "cuda_vs_torch_results.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    if not all(c.get("ok", True) for c in checks):
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="phase", required=True)
    p = sub.add_parser("prepare", help="make, export and compile the model; write the folder for the GPU machine")
    p.add_argument("--out", required=True, help="folder to write (created; files in it are replaced)")
    p.add_argument("--bertc", default=str(REPO / "build" / "cmd" / "bertc"))
    p.add_argument("--seed", type=int, default=0, help="the seed of synthetic_bert.state_dict's weights")
    p.add_argument("--layers", type=int, default=12, help="encoder layers (12: BERT-base; fewer for a quick try)")
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--max-seq", type=int, default=128)
    p.add_argument("--arch", default="sm_90", help="bertc compile --arch ('' for bertc's default set)")
    p.add_argument("--keep-onnx", action="store_true", help="keep bert-base.onnx in --out")
    p.add_argument("--try-build", action="store_true", help="run build.sh here too (needs the CUDA toolkit, no GPU)")
    r = sub.add_parser("run", help="build the host program and benchmark (on the GPU machine)")
    r.add_argument("--dir", default=str(HERE if (HERE / "meta.json").exists() else Path.cwd()),
                   help="the folder prepare wrote (default: this script's, when it is one, else the current one)")
    r.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, of: " + ", ".join(CONFIGS))
    r.add_argument("--engines", default="bertc,bertc-host,eager,sdpa,compile",
                   help="comma-separated; bertc is required (the ratios are to it)")
    r.add_argument("--compile-modes", default="default,reduce-overhead",
                   help="torch.compile modes, one engine each ('' for none)")
    r.add_argument("--reps", type=int, default=5, help="interleaved rounds")
    r.add_argument("--iters", type=int, default=100, help="timed iterations per engine per round")
    r.add_argument("--warmup", type=int, default=10, help="untimed iterations first, per engine per round")
    r.add_argument("--seed", type=int, default=1, help="NumPy seed of the ids and the b8var lengths")
    r.add_argument("--device", type=int, default=0, help="CUDA device ordinal")
    r.add_argument("--min-cosine", type=float, default=0.999,
                   help="the check's bound on the smallest per-token cosine similarity")
    r.add_argument("--no-build", action="store_true", help="use the cuda_bench_host already built")
    r.add_argument("--json", help="results file (default: DIR/cuda_vs_torch_results.json)")
    r.add_argument("--jsonl", help="append each check, round and row to this JSON lines file as it comes")
    args = ap.parse_args()
    if args.phase == "prepare":
        prepare(args)
    else:
        if args.reps < 1 or args.iters < 1 or args.warmup < 0:
            fail("--reps and --iters must be >= 1, --warmup >= 0")
        run(args)


if __name__ == "__main__":
    main()
