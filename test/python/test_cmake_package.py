"""The CMake package, out of tree: install bertc, then build a host with it.

bertc is installed to a temporary prefix (`cmake --install BUILD --prefix P`),
and test/python/cmake_host/, a host project that does find_package(bertc)
and bertc_add_model on a fixture model, is configured against P and built;
its program runs the model through the generated header, and its outputs
are compared with ONNX Runtime's (the fixture's expected outputs).
"""

import shutil
import subprocess

import numpy as np
import pytest

from conftest import MODELS, REPO, build_dir

FIXTURE = MODELS / "bert_ts17_eager"
TOLERANCE = 1e-4  # normalised max error, max|a - b| / max|b|, at real tokens


def _run(*args, **kwargs):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    if not (build_dir() / "CMakeCache.txt").exists():
        pytest.fail(f"no CMake build tree at {build_dir()}; build first (tools/build.sh)")
    prefix = tmp_path_factory.mktemp("prefix")
    _run("cmake", "--install", build_dir(), "--prefix", prefix)
    return prefix


def test_install_layout(prefix):
    for path in ["bin/bertc", "include/bertc_rt.h", "lib/libbertc_rt.a", "lib/cmake/bertc/bertcConfig.cmake",
                 "lib/cmake/bertc/bertcConfigVersion.cmake", "lib/cmake/bertc/bertcTargets.cmake",
                 "lib/cmake/bertc/bertc_add_model.cmake"]:
        assert (prefix / path).exists() or (prefix / path.replace("lib/", "lib64/")).exists(), path


def test_host_project_builds_and_runs(bertc, prefix, tmp_path):
    host_build = tmp_path / "host-build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    _run("cmake", "-S", REPO / "test" / "python" / "cmake_host", "-B", host_build, *generator,
         f"-DCMAKE_PREFIX_PATH={prefix}", f"-DMODEL={FIXTURE / 'model.onnx'}")
    _run("cmake", "--build", host_build)
    assert (host_build / "tiny.h").exists() and (host_build / "other.h").exists()

    names = ["input_ids", "attention_mask", "token_type_ids"]
    inputs = {n: np.load(FIXTURE / "inputs" / f"{n}.npy") for n in names}
    batch, seq = inputs["input_ids"].shape
    # The order of the model's inputs, as the generated header has them.
    import onnx
    graph = onnx.load(str(FIXTURE / "model.onnx"), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    order = [i.name for i in graph.input if i.name not in initializers]
    for i, name in enumerate(order):
        inputs[name].astype(np.int64).tofile(tmp_path / f"input_{i}.bin")
    proc = _run(host_build / "host", tmp_path, batch, seq)
    out_names = proc.stdout.split("\n")[:len(graph.output)]
    assert out_names == [o.name for o in graph.output]
    assert "other: 3 inputs, max batch 1, max seq 8" in proc.stdout

    i = out_names.index("last_hidden_state")
    expected = np.load(FIXTURE / "expected" / "last_hidden_state.npy")
    got = np.fromfile(tmp_path / f"output_{i}.bin", dtype=np.float32).reshape(expected.shape)
    real = inputs["attention_mask"].astype(bool)
    err = np.abs(got[real] - expected[real]).max() / np.abs(expected[real]).max()
    assert err <= TOLERANCE, f"normalised max error {err:.2e}"
    assert not got[~real].any(), "outputs at padded positions must be zeros"


def test_host_project_cuda_model(bertc, prefix, tmp_path):
    """bertc_add_model(TARGET cuda-fp16) in the installed package: the model
    links with bertc::rt_cuda and creates (BERTC_ERR_DEVICE without a GPU)."""
    if not (prefix / "lib" / "libbertc_rt_cuda.a").exists():
        pytest.skip("bertc was built without the CUDA toolkit: no bertc::rt_cuda")
    host_build = tmp_path / "host-build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    _run("cmake", "-S", REPO / "test" / "python" / "cmake_host", "-B", host_build, *generator,
         f"-DCMAKE_PREFIX_PATH={prefix}", f"-DMODEL={FIXTURE / 'model.onnx'}")
    _run("cmake", "--build", host_build, "--target", "gpu_host")
    proc = subprocess.run([str(host_build / "gpu_host")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    status, inputs, first = proc.stdout.split()
    assert status in ("BERTC_OK", "BERTC_ERR_DEVICE") and inputs == "3" and first == "input_ids"
