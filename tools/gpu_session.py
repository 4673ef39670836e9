#!/usr/bin/env python3
"""The GPU checks of the CUDA targets as one archive and one command, sized for a lent GPU
machine (15 minutes of device time, one command of at most 10, 64 MiB carried, no network).

  prepare   (here: bertc built, the project's .venv) runs `tools/gpu_check.py prepare` (every
            fixture for cuda-fp16 and cuda-fp32, cubins for sm_90) and `bench/cuda_vs_torch.py
            prepare` (BERT-base, its weights in a side file made from a seed, compressed), packs
            both into .gpu/session.tar.xz, and checks that what travels fits: the working tree
            (tracked and untracked, not ignored files) plus the archive, under --budget-mib.
  run       (on the GPU machine, from the repository root, with .gpu carried) unpacks the
            archive, runs the correctness check (models in parallel, one process each,
            compute-sanitizer on one model's bertc kernels), then the benchmark (bertc against
            PyTorch when it is there, else against NumPy), each within its share of --minutes.
            Everything goes to $OUT (or --out) as it comes: check.jsonl, bench.jsonl, bench.json,
            session.log and session.json (the phases, their times and exit codes).

Here:
    BERTC_VENV=... tools/build.sh && .venv/bin/python tools/gpu_session.py prepare
The device tool (bench/README_cuda.md):
    run(command="python3 tools/gpu_session.py run", carry=[".gpu"], timeout_s=540)

Only the standard library here: `run` runs under the GPU machine's own python3.
"""
import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CARRY = REPO / ".gpu"
ARCHIVE = "session.tar.xz"
MIB = 1 << 20


def log(msg, file=None):
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    if file:
        with open(file, "a") as f:
            f.write(line + "\n")


# ------------------------------------------------------------------------------------------ prepare

def travelling_bytes(repo: Path) -> int:
    """Bytes of the working tree the device tool sends: tracked files and untracked ones git does
    not ignore (the carried paths are counted apart)."""
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "-co", "--exclude-standard"],
                         capture_output=True, check=True).stdout
    total = 0
    for name in out.decode().split("\0"):
        p = repo / name
        if name and p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def pack(stage: Path, archive: Path) -> int:
    """stage/* into an xz tar (one solid stream: the 72 objects share most of their cubins)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_suffix(".tmp")
    with tarfile.open(tmp, "w:xz", preset=6) as tar:
        for child in sorted(stage.iterdir()):
            tar.add(child, arcname=child.name)
    tmp.replace(archive)
    return archive.stat().st_size


def check_size(repo: Path, carried: int, budget_mib: float) -> str:
    """A line on what travels; raises SystemExit when it is over the budget."""
    tree = travelling_bytes(repo)
    total = tree + carried
    line = (f"travels: working tree {tree / MIB:.1f} MiB + carried {carried / MIB:.1f} MiB = {total / MIB:.1f} MiB "
            f"(budget {budget_mib:g} MiB)")
    if total > budget_mib * MIB:
        raise SystemExit(f"gpu_session: {line}: over the budget; carry less (--only, --skip-bench) or shrink the tree")
    return line


def prepare(args):
    py = sys.executable
    stage = Path(args.carry) / "stage"
    if stage.exists():
        subprocess.run(["rm", "-rf", str(stage)], check=True)
    stage.mkdir(parents=True)
    t0 = time.time()
    cmd = [py, str(REPO / "tools" / "gpu_check.py"), "prepare", str(stage / "check"), "--bertc", args.bertc]
    if args.only:
        cmd += ["--only", args.only]
    subprocess.run(cmd, check=True)
    if not args.skip_bench:
        subprocess.run([py, str(REPO / "bench" / "cuda_vs_torch.py"), "prepare", "--out", str(stage / "bench"),
                        "--bertc", args.bertc, "--layers", str(args.layers)], check=True)
    (stage / "prepared.json").write_text(json.dumps({
        "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
        "bench": not args.skip_bench, "only": args.only, "layers": args.layers}, indent=1))
    size = pack(stage, Path(args.carry) / ARCHIVE)
    if not args.keep_stage:
        subprocess.run(["rm", "-rf", str(stage)], check=True)
    print(check_size(REPO, size, args.budget_mib))
    print(f"prepared {Path(args.carry) / ARCHIVE} in {time.time() - t0:.0f} s; on the GPU machine, from the "
          f"repository root: python3 tools/gpu_session.py run   (carry {Path(args.carry).name})")


# ---------------------------------------------------------------------------------------------- run

def phase(name, cmd, seconds, logfile, env=None):
    """Runs one phase with its output appended to the log; (exit code, seconds)."""
    log(f"{name}: {' '.join(map(str, cmd))} (at most {seconds:.0f} s)", logfile)
    t0 = time.monotonic()
    with open(logfile, "a") as f:
        try:
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=max(seconds, 1),
                                env=env).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    took = time.monotonic() - t0
    log(f"{name}: exit {rc} after {took:.0f} s", logfile)
    return rc, round(took, 1)


def run(args):
    start = time.monotonic()
    stop = start + args.minutes * 60
    out = Path(args.out or os.environ.get("OUT") or (CARRY / "results"))
    out.mkdir(parents=True, exist_ok=True)
    logfile = out / "session.log"
    work = Path(args.work)
    archive = Path(args.carry) / ARCHIVE
    if not archive.exists():
        raise SystemExit(f"gpu_session: {archive} is missing: run `gpu_session.py prepare` here and carry .gpu")
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    with tarfile.open(archive, "r:xz") as tar:
        try:
            tar.extractall(work, filter="data")  # no links out of `work`, no device files
        except TypeError:  # a Python without extraction filters (before 3.12, 3.11.4)
            tar.extractall(work)
    log(f"unpacked {archive} ({archive.stat().st_size / MIB:.1f} MiB) into {work} in "
        f"{time.monotonic() - start:.0f} s", logfile)
    py = sys.executable
    session = {"prepared": json.loads((work / "prepared.json").read_text()), "phases": {}}
    left = lambda: stop - time.monotonic()  # noqa: E731

    # The check gets what the bench does not need; the sanitizer a slice of it.
    bench = (work / "bench").exists()
    check_s = max(left() - (args.bench_seconds if bench else 0), 30)
    cmd = [py, str(REPO / "tools" / "gpu_check.py"), "run", str(work / "check"), "--results", str(out / "check.jsonl"),
           "--deadline", str(check_s - 10), "--sanitize", "--sanitizer-seconds", str(args.sanitizer_seconds)]
    session["phases"]["check"] = phase("check", cmd, check_s, logfile)
    if bench:
        cmd = [py, str(work / "bench" / "cuda_vs_torch.py"), "run", "--dir", str(work / "bench"), "--reps",
               str(args.reps), "--compile-modes", args.compile_modes, "--jsonl", str(out / "bench.jsonl"), "--json",
               str(out / "bench.json")]
        session["phases"]["bench"] = phase("bench", cmd, left() - 5, logfile)
    session["seconds"] = round(time.monotonic() - start, 1)
    (out / "session.json").write_text(json.dumps(session, indent=1) + "\n")
    log(f"done in {session['seconds']} s: {session['phases']}", logfile)
    return 0 if all(rc == 0 for rc, _ in session["phases"].values()) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="phase", required=True)
    p = sub.add_parser("prepare", help="compile, pack and size-check (here)")
    p.add_argument("--bertc", default=str(REPO / "build" / "cmd" / "bertc"))
    p.add_argument("--carry", default=str(CARRY), help="the folder the device tool carries (git-ignored)")
    p.add_argument("--only", help="gpu_check fixtures, comma-separated (default all)")
    p.add_argument("--layers", type=int, default=12, help="the benchmark's BERT layers")
    p.add_argument("--skip-bench", action="store_true")
    p.add_argument("--budget-mib", type=float, default=62, help="what may travel (the tool's limit is 64)")
    p.add_argument("--keep-stage", action="store_true", help="keep the unpacked folder beside the archive")
    r = sub.add_parser("run", help="unpack, check and benchmark (on the GPU machine)")
    r.add_argument("--carry", default=str(CARRY))
    r.add_argument("--out", help="results folder (default $OUT, else .gpu/results)")
    r.add_argument("--work", default="/tmp/bertc-gpu-session", help="where the archive is unpacked")
    r.add_argument("--minutes", type=float, default=8, help="everything, unpacking included")
    r.add_argument("--bench-seconds", type=float, default=200, help="kept for the benchmark")
    r.add_argument("--sanitizer-seconds", type=float, default=90)
    r.add_argument("--reps", type=int, default=3, help="the benchmark's interleaved rounds")
    r.add_argument("--compile-modes", default="", help="torch.compile modes to time (slow to compile; none by default)")
    args = ap.parse_args()
    if args.phase == "prepare":
        prepare(args)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
