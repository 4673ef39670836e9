"""`bertc compile --target=cuda-fp16|cuda-fp32` without a GPU: every fixture
compiles for both CUDA targets, the object links into a C host program with
libbertc_rt_cuda, cudart and cuBLASLt (test/host/cuda_info.c), and what the
object holds is checked through the C structs of bertc_cuda.h:

* a cubin for each default architecture (ELF for EM_CUDA holding every
  kernel the plan launches) and compute_90 PTX with an .entry for each;
* the plan's tables are in range: kernel indices, argument kinds, every
  buffer inside the arena, every weight inside the weights;
* the word embedding table in the weights equals the ONNX initializer in
  the storage precision (fp16 rounding done by bertc vs numpy's);
* creating a context on a machine without a GPU is BERTC_ERR_DEVICE with a
  message, never a crash (with a GPU, create must succeed).

* the plan computes the model: test/python/cuda_plan_emulator.py runs its
  steps on the CPU (each kernel family in numpy, fp16 storage rounded as the
  GPU's), and the outputs match ONNX Runtime on the fixture's inputs and on
  random batches, right- and left-padded: cuda-fp32 within 1e-4 relative,
  cuda-fp16 within 1e-2 relative with cosine >= 0.999 per token.

The kernels themselves run only on a GPU: tools/gpu_check.py.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import pytest

import cuda_plan_emulator
from conftest import REPO, build_dir, fixture_dirs, load_meta
from test_compile import Reference, random_inputs

RT_CUDA = build_dir() / "runtime_stub" / "libbertc_rt_cuda.a"
CUDA = Path("/usr/local/cuda")
TARGETS = ["cuda-fp16", "cuda-fp32"]
ARCHS = [80, 86, 89, 90]
EM_CUDA = 190
BERTC_ERR_NULL_ARG = 1
BERTC_ERR_DEVICE = 8

# bertc_cuda.h's enums.
ARG_BUFFER, ARG_WEIGHT, ARG_INPUT, ARG_OUTPUT = 6, 7, 8, 9
STEP_KERNEL, STEP_GEMM = 0, 1

pytestmark = pytest.mark.skipif(not RT_CUDA.exists(),
                                reason="bertc was built without the CUDA toolkit (no libbertc_rt_cuda.a)")


def have_gpu() -> bool:
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def link_cuda_host(tmp: Path, sources, objects, exe: Path, cxx=False):
    """Links host sources + model objects with the CUDA runtime stub."""
    compiler = ["c++", "-x", "c++"] if cxx else ["cc", "-std=c11"]
    cmd = [*compiler, "-O1", "-Wall", "-Wextra", "-Werror", f"-I{tmp}", f"-I{REPO / 'runtime_stub'}",
           f"-I{REPO / 'runtime_stub' / 'cuda'}", *map(str, sources)]
    if cxx:
        cmd += ["-x", "none"]
    cmd += [*map(str, objects), str(RT_CUDA), str(build_dir() / "runtime_stub" / "libbertc_rt.a"),
            f"-L{CUDA / 'lib64'}", f"-Wl,-rpath,{CUDA / 'lib64'}", "-lcublasLt", "-lcudart", "-lstdc++", "-lpthread",
            "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"linking failed:\n{' '.join(cmd)}\n{proc.stderr}"
    return exe


def compile_info(bertc, model: Path, tmp: Path, target: str):
    bertc("compile", model, "--target", target, "-o", tmp / "m.o", "--name", "m", "--max-batch", 4, "--max-seq", 32)
    bertc("compile", model, "--target", target, "-o", tmp / "m.cu", "--emit", "cu", "--name", "m", "--max-batch", 4,
          "--max-seq", 32)
    exe = link_cuda_host(tmp, [REPO / "test" / "host" / "cuda_info.c"], [tmp / "m.o"], tmp / "info")
    proc = subprocess.run([str(exe), str(tmp)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp / "info.json").read_text())


def check_images(info, tmp: Path):
    images = info["images"]
    assert [im["arch"] for im in images if not im["ptx"]] == ARCHS
    assert [im["arch"] for im in images if im["ptx"]] == [90]
    for i, im in enumerate(images):
        data = (tmp / f"image{i}.bin").read_bytes()
        assert len(data) == im["size"]
        for k in info["kernels"]:
            if im["ptx"]:
                assert f".entry {k}(".encode() in data, f"PTX lacks .entry {k}"
            else:
                assert k.encode() + b"\0" in data, f"sm_{im['arch']} cubin lacks {k}"
        if im["ptx"]:
            assert data.endswith(b"\0") and b".target sm_90" in data
        else:
            assert data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == EM_CUDA


def check_tables(info, model):
    store = 2 if info["precision"] == 1 else 4
    arena, weights = info["arena_bytes_per_slot"], info["weights_bytes"]
    args = info["args"]
    kernels_used = set()
    for s in info["steps"]:
        if s["kind"] == STEP_GEMM:
            assert s["lda"] == s["k"] and s["ldd"] == s["n"] and s["n"] > 0 and s["k"] > 0
            assert 0 <= s["w"] and s["w"] + s["n"] * s["k"] * store <= weights
            assert s["bias"] == -1 or s["bias"] + s["n"] * store <= weights
            assert 0 <= s["a"] and s["a"] + s["k"] * store <= arena
            assert 0 <= s["d"] and s["d"] + s["n"] * store <= arena
            assert s["w"] % 256 == 0 and s["a"] % 16 == 0 and s["d"] % 16 == 0
            continue
        assert s["kind"] == STEP_KERNEL
        assert 0 <= s["kernel"] < len(info["kernels"]) and s["threads"] % 32 == 0 and 32 <= s["threads"] <= 1024
        kernels_used.add(s["kernel"])
        assert 0 <= s["first_arg"] and s["first_arg"] + s["num_args"] <= len(args)
        for kind, value in args[s["first_arg"]:s["first_arg"] + s["num_args"]]:
            assert 0 <= kind <= 17
            if kind == ARG_BUFFER:
                assert 0 <= value < arena
            elif kind == ARG_WEIGHT:
                assert 0 <= value < weights
            elif kind == ARG_INPUT:
                assert 0 <= value < len(info["inputs"])
            elif kind == ARG_OUTPUT:
                assert 0 <= value < len(info["outputs"])
    assert kernels_used == set(range(len(info["kernels"]))), "a kernel no step launches"
    assert info["steps"][0]["kind"] == STEP_KERNEL
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    onnx_inputs = [i for i in graph.input if i.name not in initializers]
    assert [i["name"] for i in info["inputs"]] == [i.name for i in onnx_inputs]
    assert [i["dtype"] for i in info["inputs"]] == [i.type.tensor_type.elem_type for i in onnx_inputs]
    assert [o["name"] for o in info["outputs"]] == [o.name for o in graph.output]
    # Buffer sizes at batch 2, seq 5, from the ONNX types: int64 ids are 8
    # bytes; float outputs come as float32, the rest in their own dtype.
    itemsize = {1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 9: 1, 11: 8}
    assert info["input_bytes"] == [10 * itemsize[i.type.tensor_type.elem_type] for i in onnx_inputs]
    for got, o, onnx_out in zip(info["output_bytes"], info["outputs"], graph.output):
        elem = onnx_out.type.tensor_type.elem_type
        rows = 2 if o["layout"] == 1 else 10
        assert got == rows * (o["width"] or 1) * (4 if elem in (1, 10, 11, 16) else itemsize[elem])
    assert info["bytes_out_of_range"] == 0
    assert sum(i["is_mask"] for i in info["inputs"]) <= 1


def check_word_table(info, model, meta, tmp: Path):
    """The embedding step's word table is the ONNX [vocab, E] initializer in
    the storage precision."""
    store = np.float16 if info["precision"] == 1 else np.float32
    embed = [i for i, k in enumerate(info["kernels"]) if k.startswith("bertc_embed_layernorm")]
    assert len(embed) == 1
    step = next(s for s in info["steps"] if s["kind"] == STEP_KERNEL and s["kernel"] == embed[0])
    kind, offset = info["args"][step["first_arg"] + 3]
    assert kind == ARG_WEIGHT
    tables = [onnx.numpy_helper.to_array(t) for t in model.graph.initializer
              if len(t.dims) == 2 and t.dims[0] == meta["vocab"]]
    assert len(tables) == 1
    want = tables[0].astype(store)
    got = np.frombuffer((tmp / "weights.bin").read_bytes(), dtype=store, count=want.size, offset=offset)
    np.testing.assert_array_equal(got.reshape(want.shape), want)


FP32_TOLERANCE = 1e-4
FP16_TOLERANCE = 1e-2
FP16_MIN_COSINE = 0.999


def check_emulated(ours, refs, mask, fp16, label):
    """Outputs where both define them (as test_compile.compare): token rows
    at real tokens (padded ones must be 0), sequence rows whose first token
    is real, [batch, seq] integer outputs exactly."""
    for got, ref in zip(ours, refs):
        if ref.ndim == 3:
            real = mask.astype(bool)
            assert not got[~real].any(), f"{label}: nonzero output at a padded position"
            a, b = got[real], ref[real]
        elif ref.shape == mask.shape:
            a, b = got, ref
        else:
            first = mask[:, 0].astype(bool)
            a, b = got[first], ref[first]
        if a.size == 0:
            continue
        if not np.issubdtype(ref.dtype, np.floating):
            assert np.array_equal(a, b), f"{label}: integer output differs"
            continue
        a64, b64 = a.astype(np.float64).reshape(len(a), -1), b.astype(np.float64).reshape(len(b), -1)
        err = float(np.max(np.abs(a64 - b64)) / max(float(np.max(np.abs(b64))), 1e-30))
        assert err <= (FP16_TOLERANCE if fp16 else FP32_TOLERANCE), f"{label}: max error {err:.3g}"
        if fp16:
            cos = np.sum(a64 * b64, axis=1) / np.maximum(np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1), 1e-30)
            assert cos.min() >= FP16_MIN_COSINE, f"{label}: cosine {cos.min():.6f}"


def check_plan_numerics(model_path: Path, tmp: Path, fp16: bool, fixture_inputs=None, expected=None, meta=None):
    machine = cuda_plan_emulator.load(tmp, (tmp / "m.cu").read_text())
    ref = Reference(model_path)
    names = [i.name for i in ref.inputs]
    mask_of = lambda arrays: next((a for n, a in zip(names, arrays) if "mask" in n), np.ones(arrays[0].shape, np.int64))
    cases = []
    if fixture_inputs is not None:
        cases.append(("fixture inputs", fixture_inputs, expected))
    rng = np.random.default_rng(sum(map(ord, model_path.parent.name)))
    for k, (batch, seq) in enumerate(((1, 7), (2, 32), (3, 1), (4, 19))):
        arrays, _ = random_inputs(ref, meta, batch, seq, rng, left=k % 2 == 1)
        cases.append((f"batch {batch} seq {seq} {'left' if k % 2 else 'right'}", arrays, None))
    for k, (label, arrays, want) in enumerate(cases):
        # Every other case as bertc_cuda_run_device plans it: GEMMs over all rows.
        ours, bad = machine.run(arrays, *arrays[0].shape, on_device=k % 2 == 1)
        assert bad is None, f"{label}: the embedding found an id out of range at packed row {bad}"
        check_emulated(ours, want if want is not None else ref.run(arrays), mask_of(arrays), fp16, label)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fixture", fixture_dirs(), ids=lambda d: d.name)
def test_fixture_compiles_for_cuda(bertc, fixture, target, tmp_path):
    model = onnx.load(str(fixture / "model.onnx"))
    info = compile_info(bertc, fixture / "model.onnx", tmp_path, target)
    assert info["abi"] == 2 and info["name"] == "m"
    assert info["precision"] == (1 if target == "cuda-fp16" else 0)
    assert info["max_batch"] == 4 and info["max_seq"] == 32 and 1 <= info["min_seq"] <= 32
    assert info["macros"] == [4, 32, info["min_seq"], len(info["inputs"]), len(info["outputs"])]
    check_images(info, tmp_path)
    check_tables(info, model)
    meta = load_meta(fixture)
    check_word_table(info, model, meta, tmp_path)
    inputs = [np.load(fixture / "inputs" / f"{i['name']}.npy") for i in info["inputs"]]
    expected = [np.load(fixture / "expected" / f"{o['name']}.npy") for o in info["outputs"]]
    check_plan_numerics(fixture / "model.onnx", tmp_path, target == "cuda-fp16", inputs, expected, meta)
    assert info["null_ctx_run"] == BERTC_ERR_NULL_ARG
    if have_gpu():
        assert info["create_status"] == 0, info["create_error"]
    else:
        assert info["create_status"] == BERTC_ERR_DEVICE, info
        assert "no CUDA device" in info["create_error"]


def test_header_is_cxx_and_two_models_link(bertc, tmp_path):
    """The header compiles as C++ too, and two CUDA models link into one program."""
    models = REPO / "test" / "models"
    bertc("compile", models / "bert_ts17_eager" / "model.onnx", "--target=cuda-fp16", "-o", tmp_path / "bert_a.o",
          "--name", "bert_a", "--arch", "sm_90")
    bertc("compile", models / "roberta_ts17_eager" / "model.onnx", "--target=cuda-fp32", "-o", tmp_path / "roberta_b.o",
          "--name", "roberta_b", "--arch", "sm_80,sm_86")
    host = tmp_path / "two.cc"
    host.write_text("""
#include <cstdio>
#include "bert_a.h"
#include "roberta_b.h"
int main() {
  bert_a_context* a = nullptr;
  int s = bert_a_create(&a, 0);
  std::printf("%s %s %d %d %d\\n", bert_a_input_name(0), roberta_b_output_name(0), bert_a_cuda_model.num_images,
              roberta_b_cuda_model.num_images, s == 0 || s == BERTC_ERR_DEVICE);
  bert_a_destroy(a);
  return 0;
}
""")
    exe = link_cuda_host(tmp_path, [host], [tmp_path / "bert_a.o", tmp_path / "roberta_b.o"], tmp_path / "two", cxx=True)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # --arch sm_90: one cubin + PTX; sm_80,sm_86: two cubins + PTX for the newest.
    assert proc.stdout.split() == ["input_ids", "last_hidden_state", "2", "3", "1"]
    for name in ("bert_a", "roberta_b"):
        nm = subprocess.run(["nm", "--defined-only", "-g", str(tmp_path / f"{name}.o")], capture_output=True, text=True)
        assert [line.split()[-1] for line in nm.stdout.splitlines()] == [f"{name}_cuda_model"]


def test_cuda_compile_errors(bertc, tmp_path):
    model = REPO / "test" / "models" / "bert_ts17_eager" / "model.onnx"
    for args, needle in ((["--target=cuda-fp16", "--arch", "sm_1x"], "--arch=sm_1x"),
                         (["--target=cuda-fp16", "--arch", "sm_20"], "sm_20"),
                         (["--target=cuda-fp16", "--emit", "asm"], "--emit=asm: expected obj or cu"),
                         (["--emit", "cu"], "--emit=cu is for"),
                         (["--target=cuda-fp32", "--cpu", "x86-64-v4"], "--cpu applies"),
                         (["--arch", "sm_90"], "--arch applies"),
                         (["--target=cuda-fp16", "--max-seq", "100000"], "--max-seq")):
        proc = bertc("compile", model, "-o", tmp_path / "x.o", *args, check=False)
        assert proc.returncode != 0 and needle in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not (tmp_path / "x.o").exists() and not (tmp_path / "x.o.tmp").exists()


def test_bench_cuda_without_gpu_says_so(bertc):
    model = REPO / "test" / "models" / "bert_ts17_eager" / "model.onnx"
    proc = bertc("bench", model, "--target=cuda-fp16", "--batch", 1, "--seq", 16, "--runs", 3, "--compare", check=False)
    if have_gpu():
        assert proc.returncode == 0, proc.stderr
        assert "cuda-fp16 on GPU 0" in proc.stdout and "ABOVE" not in proc.stdout, proc.stdout
    else:
        assert proc.returncode == 1 and "no CUDA device" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    proc = bertc("bench", model, "--target=cuda-fp16", "--profile", check=False)
    assert proc.returncode == 1 and "--profile is for --target=cpu" in proc.stderr


def test_gpu_check_prepares_and_builds_standalone(tmp_path):
    """tools/gpu_check.py's two phases on one fixture: prepare (bertc, ORT)
    and run, which builds the runtime stub from the copied sources alone and
    links check_cases.c (the CUDA case runner) against the toolkit it finds.
    Without a GPU each model's process reports BERTC_ERR_DEVICE at create
    and the script exits 1; with one, the outputs match. (The runner's and
    the comparison's logic are tested on the CPU target in
    test_gpu_session.py.)"""
    script = REPO / "tools" / "gpu_check.py"
    out = tmp_path / "gc"
    proc = subprocess.run([sys.executable, str(script), "prepare", str(out), "--only", "bert_ts17_eager", "--bertc",
                           str(build_dir() / "cmd" / "bertc")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backend"] == "cuda"
    assert [(m["fixture"], m["target"]) for m in manifest["models"]] == [("bert_ts17_eager", t) for t in TARGETS]
    assert len(manifest["models"][0]["cases"]) == 13
    proc = subprocess.run([sys.executable, str(script), "run", str(out)], capture_output=True, text=True, timeout=900)
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    if have_gpu():
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "BERTC_ERR_DEVICE: no CUDA device" in proc.stdout
        assert "0 of 2 compiled models match" in proc.stdout
        creates = [r for r in results if r.get("mode") == "create"]
        assert len(creates) == 2 and all("BERTC_ERR_DEVICE" in r["error"] for r in creates)
    assert results[-1]["final"] and results[-1]["models"] == 2


@pytest.mark.parametrize("target", TARGETS)
def test_pretrained_plan_numerics(bertc, pretrained_model, target, tmp_path):
    """The pretrained MiniLM (mean pooling, inputs passed through as outputs,
    a 30522-token vocabulary) through the emulated plan, against ORT."""
    info = compile_info(bertc, Path(pretrained_model), tmp_path, target)
    assert [o["layout"] for o in info["outputs"]].count(2) == 2  # the two pass-through outputs
    meta = {"vocab": 30522, "type_vocab": 1, "pad_id": 0}
    check_plan_numerics(Path(pretrained_model), tmp_path, target == "cuda-fp16", meta=meta)
