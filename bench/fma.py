"""The machine's single-core FMA peak, measured now (bench/fma_peak.c), shared
by the benchmark scripts so that every figure is set against the peak of the
same run."""
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fma_peak_gflops() -> dict:
    """Single-core fp32 FMA peak per ISA, measured now: {"avx2": x, "avx512": y}."""
    with tempfile.TemporaryDirectory() as d:
        exe = Path(d) / "fma_peak"
        subprocess.run(["gcc", "-O2", str(HERE / "fma_peak.c"), "-o", str(exe)], check=True)
        out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
        return {isa: float(v) for isa, v in (line.split() for line in out.splitlines())}
