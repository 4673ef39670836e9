"""The GPU session's logic, without a GPU (tools/gpu_check.py, tools/gpu_session.py,
bench/synthetic_bert.py, bench/cuda_vs_torch.py):

* gpu_check end to end on the CPU target (`prepare --backend cpu`): the case
  runner (test/host/check_cases.c) runs every case of a model in one process,
  each run is compared and written as a JSON line as it comes, a wrong output
  and a crashing host are reported as failures, the deadline stops what has
  not run;
* the tool lookup: PATH first, then $CUDA_HOME and the other CUDA roots;
  headers and libraries in a toolkit's or a wheel's layout; compute-sanitizer's
  kernel filter in the spelling its --help shows;
* packing and the size check of what travels;
* synthetic_bert: its graph is the fixture's when given the fixture's size and
  weights, it computes BertModel's function at another size (ONNX Runtime
  against the NumPy reference), and bertc's weights file of it compresses;
* cuda_vs_torch prepare needs no torch and makes a small folder.
"""

import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from conftest import REPO, build_dir

sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "bench"))
import gpu_check  # noqa: E402
import gpu_session  # noqa: E402
import synthetic_bert  # noqa: E402

GPU_CHECK = REPO / "tools" / "gpu_check.py"
FIXTURES = "bert_ts17_eager,distilbert_ts17_eager"


def records(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def cpu_check(tmp_path_factory):
    """gpu_check prepared for the CPU target on two fixtures."""
    out = tmp_path_factory.mktemp("gc") / "check"
    proc = subprocess.run([sys.executable, str(GPU_CHECK), "prepare", str(out), "--only", FIXTURES, "--backend", "cpu",
                           "--bertc", str(build_dir() / "cmd" / "bertc")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


def run_check(out: Path, *flags):
    return subprocess.run([sys.executable, str(GPU_CHECK), "run", str(out), "--jobs", "2", *flags], capture_output=True,
                          text=True, timeout=600)


def test_gpu_check_runs_every_case_in_one_process_and_writes_json_lines(cpu_check):
    proc = run_check(cpu_check)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recs = records(cpu_check / "results.jsonl")
    assert recs[0]["start"] and recs[-1]["final"] and recs[-1]["failures"] == 0
    runs = [r for r in recs if "case" in r]
    for fixture in FIXTURES.split(","):
        mine = [r for r in runs if r["model"] == fixture]
        # 13 cases on the host API, then the first again (the cache); all in one process.
        assert [r["mode"] for r in mine].count("host") == 13 and [r["mode"] for r in mine].count("replay") == 1
        assert all(r["ok"] for r in mine), mine
        assert all(fig.get("padding_zero", True) and fig["rel"] <= 1e-4 for r in mine for fig in r["outputs"].values())
        summary = next(r for r in recs if r.get("summary") and r["model"] == fixture)
        assert summary["ok"] and summary["runs"] == 14
    assert "2 of 2 compiled models match on cpu" in proc.stdout


def test_gpu_check_reports_a_wrong_output_and_a_failing_host(cpu_check, tmp_path):
    out = tmp_path / "check"
    shutil.copytree(cpu_check, out)
    ref = out / "cases" / "bert_ts17_eager" / "b2_s32_left" / "ref0.npy"
    np.save(ref, np.load(ref) + 1.0)
    (out / "cases" / "distilbert_ts17_eager" / "b1_s1_right" / "in0.bin").unlink()
    proc = run_check(out)
    assert proc.returncode == 1
    recs = records(out / "results.jsonl")
    bad = [r for r in recs if r.get("case") == "b2_s32_left" and r["model"] == "bert_ts17_eager"]
    assert bad and not bad[0]["ok"] and bad[0]["outputs"]["0"]["rel"] > 1e-2
    assert any(r.get("model") == "distilbert_ts17_eager" and "cannot read" in r.get("error", "") for r in recs)
    assert recs[-1]["failures"] == 2
    assert "FAIL bert_ts17_eager" in proc.stdout and "b2_s32_left host: outputs differ" in proc.stdout


def test_gpu_check_stops_at_the_deadline(cpu_check, tmp_path):
    out = tmp_path / "check"
    shutil.copytree(cpu_check, out)
    proc = run_check(out, "--deadline", "0")
    assert proc.returncode == 1
    recs = records(out / "results.jsonl")
    assert sum("deadline passed" in r.get("error", "") for r in recs) == 2


def executable(path: Path, text="#!/bin/sh\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_tools_are_found_on_path_then_in_cuda_roots(tmp_path):
    on_path = executable(tmp_path / "bin" / "compute-sanitizer")
    home = tmp_path / "cuda"
    in_home = executable(home / "bin" / "compute-sanitizer")
    empty = str(tmp_path / "nothing")
    both = {"PATH": str(on_path.parent), "CUDA_HOME": str(home)}
    assert gpu_check.find_tool("compute-sanitizer", both) == str(on_path)
    assert gpu_check.find_tool("compute-sanitizer", {"PATH": empty, "CUDA_HOME": str(home)}) == str(in_home)
    assert gpu_check.find_tool("compute-sanitizer", {"PATH": empty, "CUDA_PATH": str(home)}) == str(in_home)
    # nvcc's folder is a CUDA root too.
    nvcc = executable(tmp_path / "other" / "bin" / "nvcc")
    assert str(nvcc.parents[1].resolve()) in gpu_check.cuda_roots({"PATH": str(nvcc.parent)})


def test_toolkit_headers_and_libraries_in_either_layout(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nvidia", None)  # no pip wheels: only the roots count
    flat = tmp_path / "flat"
    for f in ("include/cuda_runtime_api.h", "include/cublasLt.h", "lib64/libcudart.so.13", "lib64/libcublasLt.so.13"):
        (flat / f).parent.mkdir(parents=True, exist_ok=True)
        (flat / f).write_text("")
    incs, libs = gpu_check.find_toolkit({"PATH": "", "CUDA_HOME": str(flat)})
    assert incs == [str(flat / "include")] and libs == [str(flat / "lib64")]
    nested = tmp_path / "nested"
    for f in ("targets/x86_64-linux/include/cuda_runtime_api.h", "targets/x86_64-linux/include/cublasLt.h",
              "targets/x86_64-linux/lib/libcudart.so", "targets/x86_64-linux/lib/libcublasLt.so"):
        (nested / f).parent.mkdir(parents=True, exist_ok=True)
        (nested / f).write_text("")
    incs, libs = gpu_check.find_toolkit({"PATH": "", "CUDA_HOME": str(nested)})
    assert incs == [str(nested / "targets" / "x86_64-linux" / "include")]
    if not Path("/usr/local/cuda/include/cuda_runtime_api.h").exists():
        with pytest.raises(RuntimeError, match="no CUDA toolkit"):
            gpu_check.find_toolkit({"PATH": "", "CUDA_HOME": str(tmp_path / "none")})


def test_sanitizer_is_limited_to_bertc_kernels(tmp_path):
    for flag in ("--kernel-name", "--kernel-regex"):
        tool = executable(tmp_path / flag.strip("-") / "compute-sanitizer",
                          f"#!/bin/sh\necho '  {flag} arg   Filter the kernels'\n")
        assert gpu_check.sanitizer_filter(str(tool)) == [flag, "kns=bertc_"]
    tool = executable(tmp_path / "none" / "compute-sanitizer", "#!/bin/sh\necho usage\n")
    assert gpu_check.sanitizer_filter(str(tool)) == []


def test_pack_and_size_check(tmp_path):
    stage = tmp_path / "stage"
    (stage / "a").mkdir(parents=True)
    (stage / "a" / "x.bin").write_bytes(bytes(1 << 20))
    size = gpu_session.pack(stage, tmp_path / "carry" / "s.tar.xz")
    assert 0 < size < 1 << 16  # a MiB of zeros packs small
    tree = gpu_session.travelling_bytes(REPO)
    assert tree > 1 << 20  # the sources, at least
    line = gpu_session.check_size(REPO, size, 64)
    assert line.startswith("travels: working tree") and "budget 64 MiB" in line
    with pytest.raises(SystemExit, match="over the budget"):
        gpu_session.check_size(REPO, 70 << 20, 64)


def template_state():
    """The fixture's own weights, by state_dict name."""
    t = onnx.load(str(REPO / synthetic_bert.TEMPLATE))
    inits = {i.name: numpy_helper.to_array(i) for i in t.graph.initializer}
    state = {k[len("model."):]: v for k, v in inits.items() if k.startswith("model.")}
    for n in t.graph.node:
        if n.op_type == "MatMul" and n.input[1].startswith("onnx::MatMul"):
            part = n.name.split("/encoder/")[1].rsplit("/MatMul", 1)[0].replace("/", ".")
            state[f"encoder.{part}.weight"] = inits[n.input[1]].T
    return state


def feeds(batch, seq, vocab, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), np.int64)
    mask[-1, seq // 2:] = 0
    types = (np.arange(seq)[None] >= seq // 3).astype(np.int64).repeat(batch, 0)
    return {"input_ids": rng.integers(1, vocab, (batch, seq)), "attention_mask": mask, "token_type_ids": types}


def test_synthetic_bert_is_the_fixture_at_its_size():
    config = {**synthetic_bert.BERT_BASE, "vocab_size": 200, "hidden_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "intermediate_size": 96, "max_position_embeddings": 64}
    model = synthetic_bert.to_onnx(config, template_state(), REPO / synthetic_bert.TEMPLATE)
    onnx.checker.check_model(model)
    f = feeds(3, 9, 200)
    want = ort.InferenceSession(str(REPO / synthetic_bert.TEMPLATE)).run(None, f)
    got = ort.InferenceSession(model.SerializeToString()).run(None, f)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_synthetic_bert_at_another_size_matches_the_numpy_reference(bertc, tmp_path):
    config = {**synthetic_bert.BERT_BASE, "vocab_size": 300, "hidden_size": 96, "num_hidden_layers": 3,
              "num_attention_heads": 6, "intermediate_size": 128, "max_position_embeddings": 80}
    state = synthetic_bert.state_dict(config, 7)
    assert state.keys() == dict(synthetic_bert.param_shapes(config)).keys()
    # Separate buffers, all different: nothing for a compiler to deduplicate.
    flat = [v.tobytes() for v in state.values()]
    assert len(set(flat)) == len(flat)
    model = synthetic_bert.to_onnx(config, state, REPO / synthetic_bert.TEMPLATE)
    onnx.checker.check_model(model)
    f = feeds(2, 70, 300)
    got = ort.InferenceSession(model.SerializeToString()).run(None, f)
    ref = synthetic_bert.reference(config, state, f, np.float64)
    real = f["attention_mask"].astype(bool)
    scale = np.abs(ref[0][real]).max()
    assert np.abs(got[0][real] - ref[0][real]).max() <= 1e-5 * scale
    assert np.abs(got[1] - ref[1]).max() <= 1e-5
    # bertc fuses it like the fixture (a layer's worth of steps per layer) and its weights file
    # compresses well.
    onnx.save(model, str(tmp_path / "m.onnx"))
    bertc("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.o", "--weights-file", tmp_path / "m.weights",
          "--max-batch", 2, "--max-seq", 80)
    raw = (tmp_path / "m.weights").read_bytes()
    assert len(lzma.compress(raw, preset=1)) < len(raw) / 4  # BERT-base: 219 MB to under 1 MB


@pytest.mark.skipif(not (build_dir() / "runtime_stub" / "libbertc_rt_cuda.a").exists(),
                    reason="bertc was built without the CUDA toolkit")
def test_cuda_vs_torch_prepare_needs_no_torch(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "cuda_vs_torch.py"), "prepare", "--out", str(out),
                           "--layers", "1", "--bertc", str(build_dir() / "cmd" / "bertc"), "--try-build"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONNOUSERSITE": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "build.sh works here" in proc.stdout
    names = sorted(p.name for p in out.iterdir())
    assert "m.weights.xz" in names and "m.weights" not in names and "weights.pt" not in names
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 2 << 20
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 1 and config["seed"] == 0
