#!/usr/bin/env python3
"""Correctness of the CUDA targets on a GPU, in two phases.

The GPU machine has the CUDA toolkit, Python and numpy, but no bertc (its
LLVM and the other build dependencies come from Debian packages it lacks).
So the models are compiled and the references computed here, and the GPU
machine only links and runs:

  prepare OUT   (here: bertc, onnxruntime) compiles every fixture in
                test/models for cuda-fp16 and cuda-fp32 (--max-batch 4
                --max-seq 32, cubins for --arch, sm_90 by default), writes
                each case's inputs (raw) and ONNX Runtime's outputs (.npy),
                and copies the runtime stub's sources and
                test/host/check_cases.c beside them.
  run OUT       (on the GPU machine: a C compiler, the CUDA toolkit, numpy)
                builds the runtime stub once and one host program per model,
                and runs the models in parallel (--jobs), each in ONE
                process that runs all its cases (check_cases.c: m_run and
                m_run_device per case, the first case again from the graph
                cache, and two cases on two streams of one context). Outputs
                are compared as each run reports: cuda-fp32 (and the CPU
                target) within 1e-4 relative (max |a-b| / max |b|),
                cuda-fp16 by cosine similarity >= 0.999 over the real
                tokens; padded tokens must be 0. Each result is a JSON line
                appended to --results (OUT/results.jsonl) as it comes; the
                last line sums up. --sanitize also runs compute-sanitizer on
                one fp16 model, limited to bertc's own kernels (kns=bertc_)
                and to --sanitizer-seconds. Everything stops at --deadline.

Tools are found on PATH first, then in $CUDA_HOME, $CUDA_PATH, nvcc's
folder and /usr/local/cuda (headers and libraries also in the nvidia-* pip
wheels of the running Python).

Cases per fixture: the fixture's own inputs and random batches 1..4 at
lengths 1, 7 and 32 with random real lengths, right- and left-padded.
Outputs are compared where they are defined the same way (see
test/python/test_compile.py): token outputs at real tokens, per-sequence
outputs for rows whose first token is real.

`prepare --backend cpu` compiles for --target=cpu instead, and `run` then
needs no CUDA: that is how test/python/test_gpu_session.py tests this
script's logic without a GPU.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"cuda": ("cuda-fp16", "cuda-fp32"), "cpu": ("cpu",)}
MAX_BATCH, MAX_SEQ = 4, 32
FP32_TOLERANCE = 1e-4
FP16_MIN_COSINE = 0.999
RUNTIME_C = ["error.c", "arena.c", "pool.c", "weights.c"]
RUNTIME_SOURCES = ["bertc_rt.h", "internal.h", *RUNTIME_C, "cuda/bertc_cuda.h", "cuda/runtime.cpp", "cuda/alignment.h",
                   "cuda/run_order.h"]
SANITIZER_TOOLS = ("memcheck", "racecheck", "initcheck", "synccheck")


# ----------------------------------------------------------------------------------------- prepare

def prepare(args):
    sys.path.insert(0, str(REPO / "test" / "python"))
    from test_compile import Reference, random_inputs  # noqa: E402 (the CPU tests' ORT reference and inputs)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for src in RUNTIME_SOURCES:
        (out / "runtime" / src).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "runtime_stub" / src, out / "runtime" / src)
    shutil.copy(REPO / "test" / "host" / "check_cases.c", out / "check_cases.c")
    fixtures = sorted(d for d in (REPO / "test" / "models").iterdir() if (d / "model.onnx").exists())
    if args.only:
        fixtures = [d for d in fixtures if d.name in args.only.split(",")]
    models = []
    for fixture in fixtures:
        meta = json.loads((fixture / "meta.json").read_text())
        ref = Reference(fixture / "model.onnx")
        cases = [("fixture", [np.load(fixture / "inputs" / f"{i.name}.npy") for i in ref.inputs])]
        rng = np.random.default_rng(sum(map(ord, fixture.name)))
        k = 0
        for batch in range(1, MAX_BATCH + 1):
            for seq in (1, 7, MAX_SEQ):
                left = k % 2 == 1
                arrays, _ = random_inputs(ref, meta, batch, seq, rng, left)
                cases.append((f"b{batch}_s{seq}_{'left' if left else 'right'}", arrays))
                k += 1
        lines = []
        for name, arrays in cases:
            d = out / "cases" / fixture.name / name
            d.mkdir(parents=True, exist_ok=True)
            for i, a in enumerate(arrays):
                np.ascontiguousarray(a).tofile(d / f"in{i}.bin")
            for o, r in enumerate(ref.run(arrays)):
                np.save(d / f"ref{o}.npy", r)
            rel = d.relative_to(out)
            lines.append(f"{name} {arrays[0].shape[0]} {arrays[0].shape[1]} "
                         + " ".join(str(rel / f"in{i}.bin") for i in range(len(arrays))))
        (out / "cases" / fixture.name / "cases.txt").write_text("\n".join(lines) + "\n")
        mask = next((k for k, i in enumerate(ref.inputs) if "mask" in i.name), None)
        if mask is not None:
            for name, arrays in cases:
                np.save(out / "cases" / fixture.name / name / "mask.npy", arrays[mask])
        for target in TARGETS[args.backend]:
            d = out / "models" / f"{fixture.name}.{target}"
            d.mkdir(parents=True, exist_ok=True)
            cmd = [args.bertc, "compile", str(fixture / "model.onnx"), f"--target={target}", "-o", str(d / "m.o"),
                   "--name", "m", "--max-batch", str(MAX_BATCH), "--max-seq", str(MAX_SEQ)]
            if target.startswith("cuda") and args.arch:
                cmd += ["--arch", args.arch]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"gpu_check: {' '.join(cmd)} failed:\n{proc.stderr}")
            models.append({"fixture": fixture.name, "target": target, "dir": str(d.relative_to(out)),
                           "cases": [c for c, _ in cases]})
        print(f"prepared {fixture.name}: {len(cases)} cases", flush=True)
    (out / "manifest.json").write_text(json.dumps({"backend": args.backend, "models": models}, indent=1))
    print(f"wrote {out}; on the GPU machine: python3 tools/gpu_check.py run {out}")


# ------------------------------------------------------------------------------------------- tools

def find_tool(name, env=None):
    """`name` on PATH, else in the bin/ of a CUDA root (cuda_roots); None when nowhere."""
    env = os.environ if env is None else env
    found = shutil.which(name, path=env.get("PATH", ""))
    if found:
        return found
    for root in cuda_roots(env):
        p = Path(root) / "bin" / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def cuda_roots(env=None):
    """Where a CUDA toolkit may be, in order: $CUDA_HOME, $CUDA_PATH, nvcc's on PATH, /usr/local/cuda."""
    env = os.environ if env is None else env
    roots = [env.get("CUDA_HOME"), env.get("CUDA_PATH")]
    nvcc = shutil.which("nvcc", path=env.get("PATH", ""))
    if nvcc:
        roots.append(str(Path(nvcc).resolve().parents[1]))
    roots.append("/usr/local/cuda")
    seen = []
    for r in roots:
        if r and r not in seen:
            seen.append(r)
    return seen


def find_toolkit(env=None):
    """(include dirs, library dirs) holding cuda_runtime_api.h, cublasLt.h, libcudart and libcublasLt:
    a CUDA root's include/, lib64/, lib/, targets/*/{include,lib}, or the nvidia-* pip wheels."""
    env = os.environ if env is None else env
    places = [Path(r) for r in cuda_roots(env)]
    try:
        import nvidia  # the pip wheels PyTorch installs: nvidia/<package>/{include,lib}
        places += [Path(p) for p in nvidia.__path__]
    except ImportError:
        pass
    wanted = {"cuda_runtime_api.h": None, "cublasLt.h": None, "libcudart.so": None, "libcublasLt.so": None}
    for place in places:
        dirs = [place / "include", place / "lib64", place / "lib", *place.glob("targets/*/include"),
                *place.glob("targets/*/lib"), *place.glob("*/include"), *place.glob("*/lib")]
        for name in wanted:
            if wanted[name]:
                continue
            for d in dirs:
                if any(d.glob(name + "*")):
                    wanted[name] = d
                    break
    missing = [n for n, d in wanted.items() if d is None]
    if missing:
        raise RuntimeError(f"no CUDA toolkit with {', '.join(missing)} in {', '.join(map(str, places))}: "
                           f"set CUDA_HOME")
    incs = sorted({str(wanted["cuda_runtime_api.h"]), str(wanted["cublasLt.h"])})
    libs = sorted({str(wanted["libcudart.so"]), str(wanted["libcublasLt.so"])})
    return incs, libs


# --------------------------------------------------------------------------------------------- run

def sh(cmd, cwd=None):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def link_flags(lib_dirs, so_names):
    """Links the versioned .so of each library (a wheel has only libcudart.so.13, no libcudart.so)."""
    flags = []
    for name in so_names:
        path = next(p for d in lib_dirs for p in sorted(Path(d).glob(f"lib{name}.so*")))
        flags += [str(path), f"-Wl,-rpath,{path.parent}"]
    return flags


def compilers(env=None):
    """(C compiler, C++ compiler): $CC and $CXX, else the first of cc/gcc/clang (c++/g++/clang++) on PATH."""
    env = os.environ if env is None else env
    found = []
    for var, names in (("CC", ("cc", "gcc", "clang")), ("CXX", ("c++", "g++", "clang++"))):
        tool = env.get(var) or next((t for t in map(lambda n: shutil.which(n, path=env.get("PATH", "")), names) if t),
                                    None)
        if not tool:
            raise RuntimeError(f"no {var} and none of {', '.join(names)} on PATH")
        found.append(tool)
    return found


def build(out: Path, manifest, jobs: int):
    """The runtime's objects once, then a host program per model (in parallel): {dir: exe}."""
    cuda = manifest["backend"] == "cuda"
    cc, cxx = compilers()
    rt = out / "runtime"
    incs, libs = find_toolkit() if cuda else ([], [])
    inc = [f"-I{rt}", f"-I{rt / 'cuda'}", *[f"-I{d}" for d in incs]]
    objs = []
    for c in RUNTIME_C:
        sh([cc, "-std=c11", "-O2", "-fPIC", *inc, "-c", str(rt / c), "-o", str(rt / (c + ".o"))])
        objs.append(str(rt / (c + ".o")))
    extra = []
    if cuda:
        sh([cxx, "-std=c++17", "-O2", "-fPIC", "-Wall", "-Wextra", *inc, "-c", str(rt / "cuda" / "runtime.cpp"), "-o",
            str(rt / "runtime.o")])
        objs.append(str(rt / "runtime.o"))
        extra = ["-DCHECK_CUDA"]
        libs_flags = [*link_flags(libs, ["cublasLt", "cudart"]), "-lstdc++"]
    else:
        libs_flags = []

    def link(m):
        d = out / m["dir"]
        exe = d / "check_cases"
        sh([cc, "-std=c11", "-O1", "-Wall", "-Wextra", *extra, f"-I{d}", *inc, str(out / "check_cases.c"),
            str(d / "m.o"), *objs, *libs_flags, "-lpthread", "-ldl", "-lrt", "-o", str(exe)])
        return m["dir"], exe

    with ThreadPoolExecutor(jobs) as pool:
        return dict(pool.map(link, manifest["models"]))


def compare(ours, ref, mask, fp16):
    """(ok, figures) for one output against ONNX Runtime's, where both define it."""
    if ref.ndim >= 2 and mask is not None and ref.shape[:2] == mask.shape:
        sel = mask.astype(bool)
        pad = ours[~sel]
        a, b = ours[sel], ref[sel]
    elif mask is not None and ref.ndim >= 1 and ref.shape[0] == mask.shape[0]:
        sel = mask[:, 0].astype(bool)
        pad, a, b = None, ours[sel], ref[sel]
    else:
        pad, a, b = None, ours, ref
    figures = {}
    padding_ok = True
    if pad is not None and ref.ndim == 3:  # token outputs are 0 at padded tokens (the header's contract)
        padding_ok = bool(np.all(pad == 0))
        figures["padding_zero"] = padding_ok
    if a.size == 0:
        return padding_ok, figures
    if not np.issubdtype(b.dtype, np.floating):
        exact = bool(np.array_equal(a, b))
        return exact and padding_ok, {**figures, "exact": exact}
    a64, b64 = a.astype(np.float64).reshape(len(a), -1), b.astype(np.float64).reshape(len(b), -1)
    max_abs = float(np.max(np.abs(a64 - b64)))
    rel = max_abs / max(float(np.max(np.abs(b64))), 1e-30)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    cos = float(np.min(np.sum(a64 * b64, axis=1) / np.maximum(norms, 1e-30)))
    ok = (cos >= FP16_MIN_COSINE) if fp16 else (rel <= FP32_TOLERANCE)
    ok = bool(ok) and np.isfinite(max_abs) and padding_ok
    return ok, {**figures, "max_abs": max_abs, "rel": rel, "min_cosine": cos}


class Results:
    """JSON lines appended to one file as they come, from any thread."""

    def __init__(self, path: Path):
        self.path, self.lock = path, threading.Lock()
        path.write_text("")

    def write(self, record: dict):
        with self.lock, self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def check_model(out: Path, m, exe: Path, results: Results, deadline: float):
    """Runs one model's host over all its cases and compares each run as it reports."""
    label = {"model": m["fixture"], "target": m["target"]}
    fp16 = m["target"] == "cuda-fp16"
    outdir = out / m["dir"] / "out"
    outdir.mkdir(exist_ok=True)
    remaining = deadline - time.monotonic()
    if remaining <= 1:
        results.write({**label, "ok": False, "error": "not run: the deadline passed"})
        return False
    proc = subprocess.Popen([str(exe), str(out / "cases" / m["fixture"] / "cases.txt"), str(outdir)], cwd=out,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(remaining, proc.kill)
    timer.start()
    ok_all, worst, seen, first_error = True, {"max_abs": 0.0, "rel": 0.0, "min_cosine": 1.0}, 0, ""
    for line in proc.stdout:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "case" not in rec:
            if "fatal" in rec:
                ok_all = False
                results.write({**label, "ok": False, "error": rec["fatal"]})
            continue
        seen += 1
        record = {**label, "case": rec["case"], "mode": rec["mode"], "ms": rec["ms"], "graphs": rec["graphs"]}
        if rec["status"] != "BERTC_OK":
            ok_all = False
            first_error = first_error or f"{rec['case']} {rec['mode']}: {rec['status']}: {rec['error']}"
            results.write({**record, "ok": False, "error": f"{rec['status']}: {rec['error']}"})
            continue
        cd = out / "cases" / m["fixture"] / rec["case"]
        mask = np.load(cd / "mask.npy") if (cd / "mask.npy").exists() else None
        outputs, ok_case = {}, True
        for o in range(len(list(cd.glob("ref*.npy")))):
            ref = np.load(cd / f"ref{o}.npy")
            dtype = np.float32 if np.issubdtype(ref.dtype, np.floating) else ref.dtype
            ours = np.fromfile(outdir / f"{rec['case']}.{rec['mode']}.{o}.bin", dtype=dtype).reshape(ref.shape)
            ok, fig = compare(ours, ref, mask, fp16)
            ok_case &= ok
            outputs[str(o)] = fig
            for k in ("max_abs", "rel"):
                worst[k] = max(worst[k], fig.get(k, 0.0))
            worst["min_cosine"] = min(worst["min_cosine"], fig.get("min_cosine", 1.0))
        ok_all &= ok_case
        if not ok_case:
            first_error = first_error or f"{rec['case']} {rec['mode']}: outputs differ {outputs}"
        results.write({**record, "ok": ok_case, "outputs": outputs})
    proc.wait()
    timer.cancel()
    stderr = proc.stderr.read().strip()
    if proc.returncode not in (0, 2) or seen == 0:
        ok_all = False
        why = "killed at the deadline" if proc.returncode in (-9, 137) else f"exit {proc.returncode}"
        first_error = first_error or f"{why}: {stderr[-200:]}"
        results.write({**label, "ok": False, "error": f"{why}: {stderr[-400:]}"})
    results.write({**label, "summary": True, "ok": ok_all, "runs": seen, **worst})
    print(f"{'ok  ' if ok_all else 'FAIL'} {m['fixture']:<28} {m['target']:<10} runs {seen:3d} max_abs "
          f"{worst['max_abs']:.3g} rel {worst['rel']:.3g} min_cos {worst['min_cosine']:.6f}"
          f"{'' if ok_all else ' -- ' + first_error[:300]}", flush=True)
    return ok_all


def sanitizer_filter(tool: str):
    """compute-sanitizer's flag that limits checking to bertc's kernels (their names start bertc_),
    in the spelling this version takes; [] when it takes none."""
    text = subprocess.run([tool, "--help"], capture_output=True, text=True).stdout
    for flag in ("--kernel-name", "--kernel-regex", "--filter"):
        if flag in text:
            return [flag, "kns=bertc_"]
    return []


def run_sanitizer(out: Path, manifest, exes, results: Results, seconds: float, deadline: float):
    """compute-sanitizer's tools over the largest BERT fixture's fp16 model, on two of its cases
    (one padded), bertc's kernels only, each tool within what is left of `seconds`."""
    tool = find_tool("compute-sanitizer")
    if not tool:
        results.write({"sanitizer": "compute-sanitizer", "ok": False,
                       "error": f"not found on PATH or in {', '.join(cuda_roots())}"})
        return False
    m = next((m for m in manifest["models"] if m["target"] == "cuda-fp16" and m["fixture"].startswith("bert_")),
             manifest["models"][0])
    lines = (out / "cases" / m["fixture"] / "cases.txt").read_text().splitlines()
    subset = out / m["dir"] / "sanitize_cases.txt"
    subset.write_text("\n".join([lines[0], lines[-1]]) + "\n")
    outdir = out / m["dir"] / "sanitize_out"
    outdir.mkdir(exist_ok=True)
    flags = sanitizer_filter(tool)
    stop = min(deadline, time.monotonic() + seconds)
    clean = True
    for name in SANITIZER_TOOLS:
        left = stop - time.monotonic()
        if left < 5:
            results.write({"sanitizer": name, "ok": False, "error": "not run: out of time"})
            clean = False
            continue
        cmd = [tool, "--tool", name, "--error-exitcode", "9", "--print-limit", "20", *flags, str(exes[m["dir"]]),
               str(subset), str(outdir)]
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True, timeout=left)
            text, rc = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:
            raw = e.stdout or ""
            text, rc = raw.decode(errors="replace") if isinstance(raw, bytes) else raw, -9
        summary = re.findall(r"ERROR SUMMARY: (\d+) error", text)
        errors = int(summary[-1]) if summary else None
        ok = rc == 0 and errors == 0
        clean &= ok
        results.write({"sanitizer": name, "model": m["fixture"], "target": m["target"], "ok": ok, "rc": rc,
                       "errors": errors, "seconds": round(time.monotonic() - t0, 1), "filter": flags,
                       "tail": text.strip().splitlines()[-12:]})
        print(f"compute-sanitizer {name} on {m['fixture']} {m['target']}: "
              f"{'clean' if ok else f'rc {rc}, errors {errors}'}", flush=True)
    return clean


def gpu_name():
    tool = find_tool("nvidia-smi")
    if not tool:
        return "no nvidia-smi"
    return subprocess.run([tool, "--query-gpu=name,driver_version", "--format=csv,noheader"], capture_output=True,
                          text=True).stdout.strip()


def run(args):
    start = time.monotonic()
    deadline = start + args.deadline
    out = Path(args.out).resolve()
    manifest = json.loads((out / "manifest.json").read_text())
    results = Results(Path(args.results).resolve() if args.results else out / "results.jsonl")
    gpu = gpu_name() if manifest["backend"] == "cuda" else "cpu"
    results.write({"start": True, "gpu": gpu, "backend": manifest["backend"], "models": len(manifest["models"])})
    exes = build(out, manifest, args.jobs)
    built = time.monotonic()
    with ThreadPoolExecutor(args.jobs) as pool:
        oks = list(pool.map(lambda m: check_model(out, m, exes[m["dir"]], results, deadline), manifest["models"]))
    checked = time.monotonic()
    clean = None
    if args.sanitize and manifest["backend"] == "cuda":
        clean = run_sanitizer(out, manifest, exes, results, args.sanitizer_seconds, deadline)
    failures = oks.count(False)
    summary = {"final": True, "gpu": gpu, "models": len(oks), "failures": failures, "sanitizer_clean": clean,
               "build_s": round(built - start, 1), "check_s": round(checked - built, 1),
               "total_s": round(time.monotonic() - start, 1)}
    results.write(summary)
    print(f"{len(oks) - failures} of {len(oks)} compiled models match on {gpu} "
          f"(build {summary['build_s']} s, check {summary['check_s']} s)")
    return 1 if failures or clean is False else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="phase", required=True)
    pp = sub.add_parser("prepare", help="compile the fixtures and compute the references (here)")
    pp.add_argument("out")
    pp.add_argument("--bertc", default=str(REPO / "build" / "cmd" / "bertc"))
    pp.add_argument("--only", help="comma-separated fixture names")
    pp.add_argument("--arch", default="sm_90", help="bertc compile --arch ('' for bertc's default set)")
    pp.add_argument("--backend", choices=sorted(TARGETS), default="cuda",
                    help="cpu: compile for --target=cpu, to test this script without a GPU")
    pr = sub.add_parser("run", help="build, run and compare (on the GPU machine)")
    pr.add_argument("out")
    pr.add_argument("--jobs", type=int, default=min(16, os.cpu_count() or 1), help="models run at once")
    pr.add_argument("--deadline", type=float, default=300, help="seconds for everything; later runs are skipped")
    pr.add_argument("--results", help="JSON lines file (default OUT/results.jsonl)")
    pr.add_argument("--sanitize", action="store_true", help="also run compute-sanitizer over one model")
    pr.add_argument("--sanitizer-seconds", type=float, default=120, help="time for all its tools together")
    args = p.parse_args()
    if args.phase == "prepare":
        prepare(args)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
