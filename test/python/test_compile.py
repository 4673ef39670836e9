"""`bertc compile --target=cpu`: every fixture compiles to an object + header,
links into a C host program with the runtime stub (test/host/run_model.c),
and matches ONNX Runtime within 1e-4 relative (max |a-b| / max |b|) on the
fixture's inputs and on random batches 1..4 and several sequence lengths,
right- and left-padded, on 1 and 2 threads, in owned and caller-owned
scratch.

Compared where the outputs are defined the same way: token outputs at real
tokens (padded positions are 0 in bertc's padding-free output, see bert.h),
per-sequence outputs (the pooler) for rows whose position 0 is a real token.
"""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, bertc_path, fixture_dirs, load_meta

TOLERANCE = 1e-4
MAX_BATCH = 4
MAX_SEQ = 32
DTYPES = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_}


def build_dir() -> Path:
    return Path(bertc_path()).resolve().parents[1]


def compile_and_link(bertc, model, tmp: Path, name="m", cpu="x86-64-v3", host=REPO / "test" / "host" / "run_model.c",
                     max_batch=MAX_BATCH, max_seq=MAX_SEQ, extra=()) -> Path:
    obj = tmp / f"{name}.o"
    bertc("compile", model, "-o", obj, "--name", name, "--cpu", cpu, "--max-batch", max_batch, "--max-seq", max_seq,
          *extra)
    assert (tmp / f"{name}.h").exists()
    exe = tmp / f"host_{name}"
    cmd = ["cc", "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{tmp}", f"-I{REPO / 'runtime_stub'}", str(host),
           str(obj), str(build_dir() / "runtime_stub" / "libbertc_rt.a"), "-lpthread", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"linking the compiled model failed:\n{' '.join(cmd)}\n{proc.stderr}"
    return exe


def run_host(exe: Path, tmp: Path, inputs, n_outputs, threads=1, scratch=False):
    """Runs the host on raw input files; returns the raw output bytes."""
    batch, seq = inputs[0].shape
    args = [str(exe), str(batch), str(seq), str(threads)]
    for i, a in enumerate(inputs):
        p = tmp / f"in{i}.bin"
        np.ascontiguousarray(a).tofile(p)
        args.append(str(p))
    outs = [tmp / f"out{i}.bin" for i in range(n_outputs)]
    args += [str(p) for p in outs]
    env = dict(os.environ, RUN_SCRATCH="1" if scratch else "0")
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, f"host run failed ({proc.returncode}): {proc.stderr}"
    return [p.read_bytes() for p in outs]


class Reference:
    """ONNX Runtime on the original model, no graph optimizations."""

    def __init__(self, model):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        self.sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        self.inputs = self.sess.get_inputs()
        self.outputs = self.sess.get_outputs()

    def run(self, arrays):
        return self.sess.run(None, {i.name: a for i, a in zip(self.inputs, arrays)})


def random_inputs(ref: Reference, meta, batch, seq, rng, left):
    """ids in [1, vocab), types in [0, type_vocab), a mask with random lengths."""
    lengths = rng.integers(1, seq + 1, size=batch)
    lengths[0] = seq  # one full row
    mask = np.zeros((batch, seq), np.int64)
    for b, n in enumerate(lengths):
        if left:
            mask[b, seq - n:] = 1
        else:
            mask[b, :n] = 1
    arrays = []
    for i in ref.inputs:
        if "mask" in i.name:
            a = mask
        elif "type" in i.name:
            a = rng.integers(0, meta.get("type_vocab", 1), size=(batch, seq)) * mask
        else:
            a = rng.integers(1, meta["vocab"], size=(batch, seq)) * mask + meta.get("pad_id", 0) * (1 - mask)
        arrays.append(a.astype(np.int64 if "int64" in i.type else np.int32))
    return arrays, mask


def compare(ours_raw, refs, mask, outputs, label):
    for raw, ref, out in zip(ours_raw, refs, outputs):
        ours = np.frombuffer(raw, dtype=ref.dtype).reshape(ref.shape)
        if ref.ndim >= 2 and ref.shape[:2] == mask.shape:
            real = mask.astype(bool)
            a, b = ours[real], ref[real]
        elif ref.ndim >= 1 and ref.shape[0] == mask.shape[0]:
            first_real = mask[:, 0].astype(bool)
            a, b = ours[first_real], ref[first_real]
        else:
            a, b = ours, ref
        if a.size == 0:
            continue
        if not np.issubdtype(b.dtype, np.floating):
            assert np.array_equal(a, b), f"{label}: output {out.name} differs"
            continue
        err = float(np.max(np.abs(a.astype(np.float64) - b)) / max(float(np.max(np.abs(b))), 1e-30))
        assert err <= TOLERANCE, f"{label}: output {out.name}: max error {err:.3g} > {TOLERANCE}"


@pytest.mark.parametrize("fixture", fixture_dirs(), ids=lambda d: d.name)
def test_fixture_links_and_matches_ort(bertc, fixture, tmp_path):
    meta = load_meta(fixture)
    model = fixture / "model.onnx"
    exe = compile_and_link(bertc, model, tmp_path)
    ref = Reference(model)
    # The fixture's own inputs (batch 3: unpadded, right-padded, left-padded) against its stored ORT outputs.
    arrays = [np.load(fixture / "inputs" / f"{i.name}.npy") for i in ref.inputs]
    expected = [np.load(fixture / "expected" / f"{o.name}.npy") for o in ref.outputs]
    mask = next((a for i, a in zip(ref.inputs, arrays) if "mask" in i.name), np.ones(arrays[0].shape, np.int64))
    compare(run_host(exe, tmp_path, arrays, len(ref.outputs)), expected, mask, ref.outputs, "fixture inputs")
    # Random shapes: every batch 1..MAX_BATCH, short / odd / longest sequences, both paddings.
    rng = np.random.default_rng(sum(map(ord, fixture.name)))
    case = 0
    for batch in range(1, MAX_BATCH + 1):
        for seq in (1, 7, MAX_SEQ):
            left = case % 2 == 1
            arrays, mask = random_inputs(ref, meta, batch, seq, rng, left)
            ours = run_host(exe, tmp_path, arrays, len(ref.outputs), threads=1 + case % 2, scratch=case % 3 == 0)
            compare(ours, ref.run(arrays), mask, ref.outputs, f"batch {batch} seq {seq} {'left' if left else 'right'}")
            case += 1


def cpu_has_avx512():
    return "avx512f" in Path("/proc/cpuinfo").read_text()


@pytest.mark.parametrize("fixture", ["bert_ts17_eager", "roberta_dynamo_sdpa"])
def test_avx512_variant(bertc, fixture, tmp_path):
    """--cpu=x86-64-v4 compiles anywhere; it runs where the CPU has AVX-512."""
    model = REPO / "test" / "models" / fixture / "model.onnx"
    if not cpu_has_avx512():
        bertc("compile", model, "-o", tmp_path / "m.o", "--cpu", "x86-64-v4")
        pytest.skip("this CPU has no AVX-512F: the x86-64-v4 object compiled but cannot run here")
    meta = load_meta(model.parent)
    exe = compile_and_link(bertc, model, tmp_path, cpu="x86-64-v4")
    ref = Reference(model)
    rng = np.random.default_rng(4)
    for batch, seq, left in ((1, 32, False), (3, 17, True), (4, 5, False)):
        arrays, mask = random_inputs(ref, meta, batch, seq, rng, left)
        compare(run_host(exe, tmp_path, arrays, len(ref.outputs), threads=2), ref.run(arrays), mask, ref.outputs,
                f"v4 batch {batch} seq {seq}")


def cpu_tiers():
    """The bf16 GEMM tiers this CPU runs (BERTC_CPU_TIER's names)."""
    flags = Path("/proc/cpuinfo").read_text()
    return ["avx2"] + (["avx512"] if "avx512f" in flags else []) + (["avx512_bf16"] if "avx512_bf16" in flags else [])


def min_cosine_and_error(ours, ref, mask):
    """Minimum cosine over real tokens (or sequences) and max error relative to max |ref|."""
    if not mask[:, 0].any() and not (ref.ndim >= 2 and ref.shape[:2] == mask.shape):
        return 1.0, 0.0
    if ref.ndim >= 2 and ref.shape[:2] == mask.shape:
        a, b = ours[mask.astype(bool)], ref[mask.astype(bool)]
    else:  # pooled from token 0: only sequences whose token 0 is real (as compare() does)
        first_real = mask[:, 0].astype(bool)
        a, b = ours[first_real], ref[first_real]
    a, b = a.reshape(a.shape[0], -1).astype(np.float64), b.reshape(b.shape[0], -1).astype(np.float64)
    cos = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return float(cos.min()), float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("fixture", ["bert_ts17_eager", "distilbert_dynamo_sdpa"])
def test_bf16_object_runs_on_every_tier(bertc, fixture, tmp_path):
    """--precision bf16: one x86-64-v3 object, half the weight bytes, on every
    GEMM tier this CPU has (BERTC_CPU_TIER), against ORT on the fp32 model:
    min cosine >= 0.9995 per real token / sequence, max error <= 2e-2."""
    model = REPO / "test" / "models" / fixture / "model.onnx"
    meta = load_meta(model.parent)
    exe = compile_and_link(bertc, model, tmp_path, extra=("--precision", "bf16"))
    # The weights, written to side files: bf16's GEMM weights take half the bytes.
    sizes = {}
    for precision in ("fp32", "bf16"):
        d = tmp_path / precision
        d.mkdir()
        bertc("compile", model, "-o", d / "m.o", "--precision", precision, "--weights-file", d / "m.weights")
        sizes[precision] = (d / "m.weights").stat().st_size
    assert sizes["bf16"] < 0.7 * sizes["fp32"], sizes
    header = (tmp_path / "m.h").read_text()
    assert "const char* m_cpu_tier(void);" in header and "const char* m_precision(void);" in header
    probe = tmp_path / "probe.c"
    probe.write_text('#include <stdio.h>\n#include "m.h"\nint main(void) { printf("%s %s\\n", m_precision(), m_cpu_tier()); return 0; }\n')
    link_host(tmp_path, [probe], [tmp_path / "m.o"], tmp_path / "probe")
    ref = Reference(model)
    rng = np.random.default_rng(9)
    for tier in cpu_tiers():
        env = dict(os.environ, BERTC_CPU_TIER=tier)
        said = subprocess.run([str(tmp_path / "probe")], capture_output=True, text=True, env=env, check=True).stdout
        assert said.split() == ["bf16", tier]
        os.environ["BERTC_CPU_TIER"] = tier
        try:
            for batch, seq, left in ((1, 32, False), (4, 17, True)):
                arrays, mask = random_inputs(ref, meta, batch, seq, rng, left)
                raws = run_host(exe, tmp_path, arrays, len(ref.outputs), threads=2)
                for raw, want, out in zip(raws, ref.run(arrays), ref.outputs):
                    ours = np.frombuffer(raw, dtype=want.dtype).reshape(want.shape)
                    cos, err = min_cosine_and_error(ours, want, mask)
                    assert cos >= 0.9995 and err <= 2e-2, f"{tier} {out.name}: cosine {cos:.6f}, error {err:.3g}"
        finally:
            del os.environ["BERTC_CPU_TIER"]


def link_host(tmp: Path, sources, objects, exe: Path, extra=()):
    """cc the host sources with the objects and the runtime stub (from its
    sources when `extra` asks for sanitizers, so they are instrumented too)."""
    rt = [str(build_dir() / "runtime_stub" / "libbertc_rt.a")]
    if extra:
        rt = [str(p) for p in sorted((REPO / "runtime_stub").glob("*.c"))]
    cmd = ["cc", "-std=c11", "-g", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{tmp}", f"-I{REPO / 'runtime_stub'}",
           *extra, *map(str, sources), *map(str, objects), *rt, "-lpthread", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"link failed:\n{' '.join(cmd)}\n{proc.stderr}"
    return exe


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
def test_bad_calls_and_concurrency(bertc, tmp_path, sanitize):
    fixture = REPO / "test" / "models" / "bert_ts17_eager"
    meta = load_meta(fixture)
    bertc("compile", fixture / "model.onnx", "-o", tmp_path / "m.o", "--name", "m", "--max-batch", 4, "--max-seq", 16)
    extra = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all") if sanitize else ()
    exe = link_host(tmp_path, [REPO / "test" / "host" / "bad_calls.c"], [tmp_path / "m.o"], tmp_path / "bad_calls", extra)
    proc = subprocess.run([str(exe), str(meta["vocab"]), str(meta["type_vocab"])], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all checks passed" in proc.stdout


def test_two_models_link_into_one_program(bertc, tmp_path):
    """Symbols are prefixed and the model library is internal: two models, one program."""
    models = REPO / "test" / "models"
    bertc("compile", models / "bert_ts17_eager" / "model.onnx", "-o", tmp_path / "bert_small.o", "--name", "bert_small")
    bertc("compile", models / "roberta_ts17_eager" / "model.onnx", "-o", tmp_path / "roberta_small.o", "--name",
          "roberta_small")
    host = tmp_path / "two.c"
    host.write_text("""
#include <stdio.h>
#include "bert_small.h"
#include "roberta_small.h"
int main(void) {
  bert_small_context* a = NULL;
  roberta_small_context* b = NULL;
  if (bert_small_create(&a, 1) || roberta_small_create(&b, 1)) return 1;
  printf("%s %s\\n", bert_small_input_name(0), roberta_small_output_name(0));
  bert_small_destroy(a);
  roberta_small_destroy(b);
  return 0;
}
""")
    exe = link_host(tmp_path, [host], [tmp_path / "bert_small.o", tmp_path / "roberta_small.o"], tmp_path / "two")
    proc = subprocess.run([str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.split() == ["input_ids", "last_hidden_state"], proc.stderr
    # Only the two prefixes are defined globally; the runtime stub's bertc_rt_* are the only undefined ones but libc.
    for name in ("bert_small", "roberta_small"):
        nm = subprocess.run(["nm", "--defined-only", "-g", str(tmp_path / f"{name}.o")], capture_output=True, text=True)
        symbols = [line.split()[-1] for line in nm.stdout.splitlines()]
        assert symbols and all(s.startswith(name + "_") for s in symbols), symbols


def test_compile_errors(bertc, tmp_path):
    model = REPO / "test" / "models" / "bert_ts17_eager" / "model.onnx"
    for args, needle in ((["--cpu", "pentium"], "--cpu=pentium"), (["--name", "int"], "--name 'int'"),
                         (["--emit", "exe"], "--emit=exe"), (["--target", "tpu"], "--target=tpu"),
                         (["--max-batch", "-2"], "positive")):
        proc = bertc("compile", model, "-o", tmp_path / "x.o", *args, check=False)
        assert proc.returncode != 0 and needle in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not (tmp_path / "x.o").exists()
    proc = bertc("compile", tmp_path / "missing.onnx", "-o", tmp_path / "x.o", check=False)
    assert proc.returncode == 1 and "missing.onnx" in proc.stderr


def test_emit_asm_hot_loops_are_fma(bertc, tmp_path):
    """--emit=asm shows the GEMM microkernel as FMAs on full vector registers."""
    model = REPO / "test" / "models" / "bert_ts17_eager" / "model.onnx"
    for cpu, reg in (("x86-64-v3", "ymm"), ("x86-64-v4", "zmm")):
        out = tmp_path / f"m_{cpu}.s"
        bertc("compile", model, "--emit", "asm", "-o", out, "--cpu", cpu)
        text = out.read_text()
        fmas = [line for line in text.splitlines() if "vfmadd231ps" in line and f"%{reg}" in line]
        assert len(fmas) >= 12, f"{cpu}: only {len(fmas)} vfmadd231ps on {reg}"
    bertc("compile", model, "--emit", "llvm", "-o", tmp_path / "m.ll")
    assert "define i32 @m_run(" in (tmp_path / "m.ll").read_text()
