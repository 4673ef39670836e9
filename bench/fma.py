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


def best_peak(*peaks: dict) -> dict:
    """Per ISA, the highest of several fma_peak_gflops() results. On a shared
    machine a measurement can only come out low (another process took the
    core), so a run measures before and after and sets its figures against the
    higher, which makes its percentages of peak conservative."""
    return {isa: max(p[isa] for p in peaks) for isa in peaks[0]}
