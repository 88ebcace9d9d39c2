"""benchmarks/profile_stages.py reads rnnmath's internals: every stage it times must still run,
on each workload's kind of input (ids, dense batch, truncation)."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def profile_stages():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("profile_stages",
                                                  ROOT / "benchmarks/profile_stages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(ROOT / "benchmarks"))


@pytest.mark.parametrize("name", list("ABD"))
def test_every_stage_runs_on_the_internals_it_names(profile_stages, name):
    wl = next(w for w in profile_stages.WORKLOADS if w.name == name).build(seed=ord(name))
    stages = profile_stages.stages(wl)
    assert len(stages) == 8
    for label, stage in stages.items():
        stage()  # raises if an internal it calls changed
    assert stages["result test (three sums of squares, bounds)"]() is True
