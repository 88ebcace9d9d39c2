"""The README's example runs as written and its check passes."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(capsys):
    code = re.search(r"## Use it\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["check"].worst < 1e-7
    assert "worst relative error per parameter" in capsys.readouterr().out
