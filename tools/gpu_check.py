#!/usr/bin/env python3
"""Correctness of the CUDA targets on a GPU, in two phases.

The GPU machine has the CUDA toolkit, Python and numpy, but no bertc (its
LLVM and the other build dependencies come from Debian packages it lacks).
So the models are compiled and the references computed here, and the GPU
machine only links and runs:

  prepare OUT   (here: bertc, onnxruntime) compiles every fixture in
                test/models for cuda-fp16 and cuda-fp32 (--max-batch 4
                --max-seq 32), writes each case's inputs and ONNX Runtime's
                outputs as .npy, and copies the runtime stub's sources and
                test/host/run_model_cuda.c beside them.
  run OUT       (on the GPU machine: nvcc's toolkit, numpy) builds the
                runtime stub once and one host program per compiled model,
                runs every case through m_run and m_run_device, and compares:
                cuda-fp32 within 1e-4 relative (max |a-b| / max |b|) like the
                CPU target; cuda-fp16 by cosine similarity >= 0.999 over the
                real tokens, with the max absolute error reported. With
                --sanitize it also runs compute-sanitizer (memcheck) over one
                full model. Writes OUT/results.json and prints a table.

Cases per fixture: the fixture's own inputs (unpadded, right- and
left-padded rows) and random batches 1..4 at lengths 1, 7 and 32 with random
real lengths, right- and left-padded. Outputs are compared where they are
defined the same way (see test/python/test_compile.py): token outputs at
real tokens, per-sequence outputs for rows whose first token is real.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TARGETS = ("cuda-fp16", "cuda-fp32")
MAX_BATCH, MAX_SEQ = 4, 32
FP32_TOLERANCE = 1e-4
FP16_MIN_COSINE = 0.999
RUNTIME_SOURCES = ["bertc_rt.h", "internal.h", "error.c", "arena.c", "pool.c", "cuda/bertc_cuda.h", "cuda/runtime.cpp"]


def prepare(args):
    sys.path.insert(0, str(REPO / "test" / "python"))
    from test_compile import Reference, random_inputs  # noqa: E402 (the CPU tests' ORT reference and inputs)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for src in RUNTIME_SOURCES:
        (out / "runtime" / src).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "runtime_stub" / src, out / "runtime" / src)
    shutil.copy(REPO / "test" / "host" / "run_model_cuda.c", out / "run_model_cuda.c")
    fixtures = sorted(d for d in (REPO / "test" / "models").iterdir() if (d / "model.onnx").exists())
    if args.only:
        fixtures = [d for d in fixtures if d.name in args.only.split(",")]
    models = []
    for fixture in fixtures:
        meta = json.loads((fixture / "meta.json").read_text())
        ref = Reference(fixture / "model.onnx")
        cases = []
        arrays = [np.load(fixture / "inputs" / f"{i.name}.npy") for i in ref.inputs]
        cases.append(("fixture", arrays))
        rng = np.random.default_rng(sum(map(ord, fixture.name)))
        k = 0
        for batch in range(1, MAX_BATCH + 1):
            for seq in (1, 7, MAX_SEQ):
                left = k % 2 == 1
                arrays, _ = random_inputs(ref, meta, batch, seq, rng, left)
                cases.append((f"b{batch}_s{seq}_{'left' if left else 'right'}", arrays))
                k += 1
        case_dir = out / "cases" / fixture.name
        for name, arrays in cases:
            d = case_dir / name
            d.mkdir(parents=True, exist_ok=True)
            for i, a in zip(ref.inputs, arrays):
                np.save(d / f"in_{i.name}.npy", a)
            for o, r in zip(ref.outputs, ref.run(arrays)):
                np.save(d / f"ref_{o.name}.npy", r)
        mask_input = next((i.name for i in ref.inputs if "mask" in i.name), None)
        for target in TARGETS:
            d = out / "models" / f"{fixture.name}.{target}"
            d.mkdir(parents=True, exist_ok=True)
            cmd = [args.bertc, "compile", str(fixture / "model.onnx"), f"--target={target}", "-o", str(d / "m.o"),
                   "--name", "m", "--max-batch", str(MAX_BATCH), "--max-seq", str(MAX_SEQ)]
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            models.append({"fixture": fixture.name, "target": target, "dir": str(d.relative_to(out)),
                           "inputs": [i.name for i in ref.inputs], "outputs": [o.name for o in ref.outputs],
                           "mask": mask_input, "cases": [c for c, _ in cases]})
        print(f"prepared {fixture.name}: {len(cases)} cases", flush=True)
    (out / "manifest.json").write_text(json.dumps({"models": models}, indent=1))
    print(f"wrote {out}; on the GPU machine: python3 tools/gpu_check.py run {out}")


def sh(cmd, cwd=None):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def build_runtime(out: Path, cuda: Path) -> list:
    rt = out / "runtime"
    objs = []
    inc = [f"-I{rt}", f"-I{rt / 'cuda'}", f"-I{cuda / 'include'}"]
    for c in ("error.c", "arena.c", "pool.c"):
        sh(["cc", "-std=c11", "-O2", "-fPIC", *inc, "-c", str(rt / c), "-o", str(rt / (c + ".o"))])
        objs.append(str(rt / (c + ".o")))
    sh(["c++", "-std=c++17", "-O2", "-fPIC", "-Wall", "-Wextra", *inc, "-c", str(rt / "cuda" / "runtime.cpp"), "-o",
        str(rt / "runtime.o")])
    objs.append(str(rt / "runtime.o"))
    return objs


def compare(ours, ref, mask, fp16):
    """(ok, figures) for one output."""
    if ref.ndim >= 2 and mask is not None and ref.shape[:2] == mask.shape:
        sel = mask.astype(bool)
        a, b = ours[sel], ref[sel]
    elif mask is not None and ref.ndim >= 1 and ref.shape[0] == mask.shape[0]:
        sel = mask[:, 0].astype(bool)
        a, b = ours[sel], ref[sel]
    else:
        a, b = ours, ref
    if a.size == 0:
        return True, {}
    if not np.issubdtype(b.dtype, np.floating):
        return bool(np.array_equal(a, b)), {"exact": bool(np.array_equal(a, b))}
    a64, b64 = a.astype(np.float64).reshape(len(a), -1), b.astype(np.float64).reshape(len(b), -1)
    max_abs = float(np.max(np.abs(a64 - b64)))
    rel = max_abs / max(float(np.max(np.abs(b64))), 1e-30)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    cos = float(np.min(np.sum(a64 * b64, axis=1) / np.maximum(norms, 1e-30)))
    ok = cos >= FP16_MIN_COSINE if fp16 else rel <= FP32_TOLERANCE
    return ok, {"max_abs": max_abs, "rel": rel, "min_cosine": cos}


def run(args):
    out = Path(args.out).resolve()
    cuda = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda"))
    manifest = json.loads((out / "manifest.json").read_text())
    rt_objs = build_runtime(out, cuda)
    libs = [f"-L{cuda / 'lib64'}", f"-Wl,-rpath,{cuda / 'lib64'}", "-lcublasLt", "-lcudart", "-lstdc++", "-lpthread"]
    results, failures = [], 0
    for m in manifest["models"]:
        d = out / m["dir"]
        exe = d / "host"
        sh(["cc", "-std=c11", "-O1", f"-I{d}", f"-I{out / 'runtime'}", f"-I{out / 'runtime' / 'cuda'}",
            f"-I{cuda / 'include'}", str(out / "run_model_cuda.c"), str(d / "m.o"), *rt_objs, *libs, "-o", str(exe)])
        fp16 = m["target"] == "cuda-fp16"
        worst = {"max_abs": 0.0, "rel": 0.0, "min_cosine": 1.0}
        ok_all = True
        for case in m["cases"]:
            cd = out / "cases" / m["fixture"] / case
            ins = [np.load(cd / f"in_{n}.npy") for n in m["inputs"]]
            refs = [np.load(cd / f"ref_{n}.npy") for n in m["outputs"]]
            mask = np.load(cd / f"in_{m['mask']}.npy") if m["mask"] else None
            batch, seq = ins[0].shape
            for mode in ("host", "device"):
                paths = []
                for k, a in enumerate(ins):
                    p = d / f"in{k}.bin"
                    np.ascontiguousarray(a).tofile(p)
                    paths.append(str(p))
                outs = [d / f"out{k}.bin" for k in range(len(refs))]
                env = dict(os.environ, RUN_DEVICE="1" if mode == "device" else "0", RUN_REPEAT="2")
                proc = subprocess.run([str(exe), str(batch), str(seq), *paths, *map(str, outs)], env=env,
                                      capture_output=True, text=True, timeout=300)
                if proc.returncode != 0:
                    ok_all = False
                    print(f"FAIL {m['fixture']} {m['target']} {case} {mode}: {proc.stderr.strip()}", flush=True)
                    continue
                for name, ref, p in zip(m["outputs"], refs, outs):
                    dtype = np.float32 if np.issubdtype(ref.dtype, np.floating) else ref.dtype
                    ours = np.fromfile(p, dtype=dtype).reshape(ref.shape)
                    ok, fig = compare(ours, ref, mask, fp16)
                    if not ok:
                        ok_all = False
                        print(f"FAIL {m['fixture']} {m['target']} {case} {mode} {name}: {fig}", flush=True)
                    worst["max_abs"] = max(worst["max_abs"], fig.get("max_abs", 0.0))
                    worst["rel"] = max(worst["rel"], fig.get("rel", 0.0))
                    worst["min_cosine"] = min(worst["min_cosine"], fig.get("min_cosine", 1.0))
        failures += not ok_all
        results.append({"fixture": m["fixture"], "target": m["target"], "ok": ok_all, **worst})
        print(f"{'ok  ' if ok_all else 'FAIL'} {m['fixture']:<28} {m['target']:<10} max_abs {worst['max_abs']:.3g} "
              f"rel {worst['rel']:.3g} min_cos {worst['min_cosine']:.6f}", flush=True)
    sanitizer = None
    if args.sanitize:
        sanitizer = run_sanitizer(out, manifest, cuda)
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        gpu = "no nvidia-smi"
    summary = {"gpu": gpu, "models": len(results), "failures": failures, "results": results, "sanitizer": sanitizer}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    print(f"{len(results) - failures} of {len(results)} compiled models match on {gpu}")
    return 1 if failures or (sanitizer and not sanitizer["clean"]) else 0


def run_sanitizer(out: Path, manifest, cuda: Path):
    """compute-sanitizer memcheck over the largest fixture's fp16 model, one case, both entry points."""
    tool = cuda / "bin" / "compute-sanitizer"
    if not tool.exists():
        return {"clean": False, "error": f"{tool} not found"}
    m = next(m for m in manifest["models"] if m["target"] == "cuda-fp16" and m["fixture"].startswith("bert_"))
    d = out / m["dir"]
    case = out / "cases" / m["fixture"] / m["cases"][-1]
    ins = [np.load(case / f"in_{n}.npy") for n in m["inputs"]]
    batch, seq = ins[0].shape
    paths = [str(case / f"in_{n}.bin") for n in m["inputs"]]
    for a, p in zip(ins, paths):
        np.ascontiguousarray(a).tofile(p)
    reports = {}
    for mode in ("0", "1"):
        for tool_name in ("memcheck", "initcheck", "racecheck"):
            proc = subprocess.run([str(tool), "--tool", tool_name, "--error-exitcode", "9", str(d / "host"), str(batch),
                                   str(seq), *paths, *[str(d / f"san{k}.bin") for k in range(len(m["outputs"]))]],
                                  env=dict(os.environ, RUN_DEVICE=mode), capture_output=True, text=True, timeout=600)
            reports[f"{tool_name}/{'device' if mode == '1' else 'host'}"] = {
                "rc": proc.returncode, "summary": (proc.stdout + proc.stderr).strip().splitlines()[-1:]}
    clean = all(r["rc"] == 0 for r in reports.values())
    print(f"compute-sanitizer on {m['fixture']} cuda-fp16 b{batch} s{seq}: {'clean' if clean else 'ERRORS'} {reports}")
    return {"clean": clean, "model": m["fixture"], "reports": reports}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="phase", required=True)
    pp = sub.add_parser("prepare", help="compile the fixtures and compute the references (here)")
    pp.add_argument("out")
    pp.add_argument("--bertc", default=str(REPO / "build" / "cmd" / "bertc"))
    pp.add_argument("--only", help="comma-separated fixture names")
    pr = sub.add_parser("run", help="build, run and compare (on the GPU machine)")
    pr.add_argument("out")
    pr.add_argument("--sanitize", action="store_true", help="also run compute-sanitizer over one model")
    args = p.parse_args()
    if args.phase == "prepare":
        prepare(args)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
