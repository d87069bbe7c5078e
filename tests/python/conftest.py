"""Shared set-up: use every core (Debian's torch may start with one thread), fixed seeds, and the `sandbox` mark.

`make test` runs the tests in two parts: the `sandbox` ones alone, then the rest spread over the cores
(pytest-xdist). A sandbox test starts executor workers or job processes, in this process or in a program it
runs (the CLI, a notebook, torchrun, a C++ example): such tests look for leftover job processes machine-wide,
kill workers, count a uid's processes and give their jobs deadlines, so a job of a test running beside them
would be taken for a leak, and a loaded machine for a hung job (both failed in a trial of one parallel run).
Plain `pytest` runs everything in one process, as before.
"""
import os

import pytest
import torch

torch.set_num_threads(os.cpu_count() or 1)

# The files whose tests start sandboxed jobs (found by watching for executor workers under each test, and by
# the fixture below).
SANDBOX_FILES = {
    "test_code_tasks.py", "test_consistency_values.py", "test_cpp_example.py", "test_distributed_eval.py",
    "test_eval_cli.py", "test_eval_numbers.py", "test_executor.py", "test_executor_caller.py",
    "test_experiment.py", "test_judge.py", "test_notebook.py", "test_readme.py", "test_sandbox_attacks.py",
    "test_sandbox_root_chroot.py", "test_sandbox_unprivileged.py", "test_translate.py",
}


def pytest_configure(config):
    config.addinivalue_line("markers", "sandbox: starts sandboxed jobs; run alone, not beside other tests "
                                       "(conftest.py's SANDBOX_FILES)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SANDBOX_FILES:
            item.add_marker(pytest.mark.sandbox)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _no_executor_beside_other_tests(request, monkeypatch):
    """In a parallel run, a test outside SANDBOX_FILES that starts an executor in this process fails at once
    with what to do, rather than now and then through another test's leak check. (Not an executor that a
    module-scoped fixture starts before this runs, nor one in a program the test runs: the list's comment
    says how those were found.)"""
    in_xdist_worker = hasattr(request.config, "workerinput")   # not an environment variable children inherit
    if not in_xdist_worker or request.node.get_closest_marker("sandbox"):
        return

    def refuse(*args, **kwargs):
        raise RuntimeError(f"{request.node.nodeid} starts an executor while other tests run beside it: add its "
                           "file to SANDBOX_FILES in tests/python/conftest.py")

    import cotnpot.executor
    monkeypatch.setattr(cotnpot.executor.Executor, "__init__", refuse)
