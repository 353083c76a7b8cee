"""The README's Python example runs as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np


def test_readme_python_example(tmp_path, monkeypatch):
    readme = Path(__file__).resolve().parents[2] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(tmp_path)
    for i, code in enumerate(blocks):
        # Each block runs as a script of its own (the workflow one spawns
        # worker processes, which import it by path).
        script = tmp_path / f"readme_{i}.py"
        script.write_text(code)
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"README block {i} failed:\n{code}\n{done.stderr}"
    assert os.path.exists(tmp_path / "grid.f8")
    assert os.path.getsize(tmp_path / "field.png") > 1000
    field = np.fromfile(tmp_path / "field.f4", dtype="f4").reshape(2000, 2000)
    assert field.min() >= 1.0, "every row got its +1 from a worker"
    z = np.load(tmp_path / "standardized.npy")  # the scale-out block's output, written by dask workers
    assert z.shape == (4000, 500) and z.dtype == np.float32
    assert abs(float(z.std()) - 1) < 1e-3
