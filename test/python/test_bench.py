"""`bertc bench --target=cpu`: what it compiles for by default, and that the timed code is right.

bench measures the machine it runs on, so by default it compiles for this
machine's ISA (`--cpu native`), and says what that resolved to; `--cpu`
still picks a portable tier. Its `--compare` holds the JIT-compiled model to
the reference interpreter on the original graph (fp32: 1e-4 relative).
"""

import json
from pathlib import Path

import pytest

from conftest import MODELS

MODEL = MODELS / "bert_ts17_eager" / "model.onnx"


def bench_json(bertc, *flags):
    proc = bertc("bench", MODEL, "--seq", 16, "--batch", 2, "--lengths", "uniform:5-16", "--runs", 3, "--warmup", 1,
                 "--compare", "--json", *flags)
    return json.loads(proc.stdout)


def this_cpu_isa():
    flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split()
    return "avx512" if "avx512f" in flags else "avx2"


def test_bench_compiles_for_this_machine_by_default(bertc):
    result = bench_json(bertc)
    assert result["cpu"] == "native"
    # The engine names the ISA that native resolved to, and it is this CPU's.
    assert result["engine"].startswith("cpu (native: ")
    assert f", {this_cpu_isa()}), " in result["engine"], result["engine"]
    for name, err in result["max_error"].items():
        assert err <= 1e-4, (name, err)


def test_bench_portable_tier_on_request(bertc):
    result = bench_json(bertc, "--cpu", "x86-64-v3")
    assert result["cpu"] == "x86-64-v3"
    assert result["engine"].startswith("cpu (x86-64-v3), ")
    for name, err in result["max_error"].items():
        assert err <= 1e-4, (name, err)


def test_bench_unknown_cpu_is_one_line_error(bertc):
    proc = bertc("bench", MODEL, "--cpu", "pentium", "--runs", 1, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "bertc: error: bench: --cpu=pentium: expected x86-64-v3, x86-64-v4 or native"]


def test_compile_keeps_the_portable_default(bertc):
    assert "--cpu TEXT=x86-64-v3 " in bertc("compile", "--help").stdout
    proc = bertc("bench", "--help")
    assert "--cpu TEXT=native" in proc.stdout
