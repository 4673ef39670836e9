"""`bertc run` (the reference interpreter) against ONNX Runtime, end to end through the CLI."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, fixture_dirs

TOL = 1e-5  # normalised max error: max|a - b| / max|b|


def normalised_error(got, want):
    assert got.shape == want.shape
    if not np.issubdtype(want.dtype, np.floating):
        return 0.0 if np.array_equal(got, want) else float("inf")
    scale = float(np.abs(want).max()) or 1.0
    return float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) / scale


@pytest.fixture(scope="session")
def pretrained_reference(tmp_path_factory):
    """ORT's outputs for the pretrained model on fixed padded inputs, computed now."""
    out = tmp_path_factory.mktemp("pretrained")
    subprocess.run([sys.executable, str(REPO / "tools" / "make_pretrained_reference.py"), "--out", str(out)],
                   check=True, capture_output=True, text=True)
    return out


def test_pretrained_matches_onnxruntime(bertc, pretrained_model, pretrained_reference, tmp_path):
    bertc("run", pretrained_model, "--inputs-dir", pretrained_reference / "inputs", "--save-outputs", tmp_path)
    expected = sorted((pretrained_reference / "expected").glob("*.npy"))
    assert len(expected) == 4
    for e in expected:
        err = normalised_error(np.load(tmp_path / e.name), np.load(e))
        print(f"pretrained {e.stem}: normalised max error {err:.3g}")
        assert err <= TOL, e.name


@pytest.mark.parametrize("d", fixture_dirs()[::5], ids=lambda d: d.name)
def test_run_cli_matches_fixture(bertc, d, tmp_path):
    bertc("run", d / "model.onnx", "--inputs-dir", d / "inputs", "--save-outputs", tmp_path)
    for e in sorted((d / "expected").glob("*.npy")):
        assert normalised_error(np.load(tmp_path / e.name), np.load(e)) <= TOL, e.name


def test_run_random_inputs_are_seeded(bertc):
    model = fixture_dirs()[0] / "model.onnx"
    a = bertc("run", model, "--batch", "2", "--seq", "7", "--seed", "3", "--json").stdout
    b = bertc("run", model, "--batch", "2", "--seq", "7", "--seed", "3", "--json").stdout
    strip = lambda s: [l for l in s.splitlines() if '"seconds"' not in l]
    assert strip(a) == strip(b)
    assert '"shape": "[2, 7, ' in a
