"""The README's Python example runs as written."""

import os
import re
from pathlib import Path


def test_readme_python_example(tmp_path, monkeypatch):
    readme = Path(__file__).resolve().parents[2] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, str(readme), "exec"), {})
    assert os.path.exists(tmp_path / "grid.f8")
