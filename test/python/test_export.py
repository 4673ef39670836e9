"""The ONNX writer end to end: `bertc optimize --passes ""` re-exports each
fixture without running any pass, and ONNX Runtime runs the result with the
fixture's expected outputs. Names, element types and symbolic dims of the
graph inputs and outputs survive; external data sits beside the model."""

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import fixture_dirs
from test_run import TOL, normalised_error


def ort_outputs(path, d, level):
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.load(d / "inputs" / (re.sub(r"[^A-Za-z0-9_.-]", "_", i.name) + ".npy")) for i in sess.get_inputs()}
    # keyed like the fixtures' .npy files: characters outside [A-Za-z0-9_.-] become '_'
    return {re.sub(r"[^A-Za-z0-9_.-]", "_", o.name): v for o, v in zip(sess.get_outputs(), sess.run(None, feeds))}


def signature(values):
    return [(v.name, v.type.tensor_type.elem_type,
             [dim.dim_param or dim.dim_value for dim in v.type.tensor_type.shape.dim]) for v in values]


@pytest.fixture(scope="module", autouse=True)
def needs_optimize(bertc):
    proc = bertc("optimize", "--help", check=False)
    if proc.returncode != 0:
        pytest.skip("this bertc has no optimize command")


@pytest.mark.parametrize("d", fixture_dirs(), ids=lambda d: d.name)
def test_reexport_runs_in_onnxruntime(bertc, d, tmp_path):
    out = tmp_path / "model.onnx"
    external = d.name.endswith("ts17_sdpa")  # one variant per architecture through external data
    bertc("optimize", d / "model.onnx", "-o", out, "--passes", "", *(["--external-data"] if external else []))
    assert (tmp_path / "model.onnx.data").exists() == external
    src, got = onnx.load(d / "model.onnx", load_external_data=False), onnx.load(out, load_external_data=False)
    assert signature(got.graph.input) == signature(src.graph.input)
    assert [o.name for o in got.graph.output] == [o.name for o in src.graph.output]
    assert got.producer_name == "bertc" and got.producer_version == "0.1.0"
    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        outs = ort_outputs(out, d, level)
        for e in sorted((d / "expected").glob("*.npy")):
            err = normalised_error(outs[e.stem], np.load(e))
            assert err <= TOL, (e.stem, str(level), err)


@pytest.mark.parametrize("d", fixture_dirs()[::3], ids=lambda d: d.name)
def test_default_pipeline_runs_in_onnxruntime(bertc, d, tmp_path):
    """Whatever the default pipeline fuses, the writer's contrib ops (int64
    masks and ids cast for ORT, Linear as MatMul + Add + activation, ...) run
    in ONNX Runtime with the fixture's expected outputs."""
    out = tmp_path / "model.onnx"
    bertc("optimize", d / "model.onnx", "-o", out)
    outs = ort_outputs(out, d, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    for e in sorted((d / "expected").glob("*.npy")):
        err = normalised_error(outs[e.stem], np.load(e))
        assert err <= TOL, (e.stem, err)
