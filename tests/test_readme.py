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


def test_readme_composition_equals_the_one_call_function(capsys):
    """The "Compose it" block, run after "Use it", gives the same dW as rnn_gradients."""
    text = README.read_text()
    scope = {}
    for section in ("Use it", "Compose it"):
        body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
        code = re.search(r"```python\n(.*?)```", body, re.S).group(1)
        exec(compile(code, "README.md", "exec"), scope)
    import numpy as np
    np.testing.assert_allclose(scope["g"].params["W"], scope["rnn_gradients"](
        scope["x"], scope["y"], **scope["params"]).dW, rtol=1e-12, atol=0)
    assert "(8,) (8, 8)" in capsys.readouterr().out
