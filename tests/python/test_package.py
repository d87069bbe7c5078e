"""Packaging: one version, the torch check at import, and the Jupyter kernel of the venv."""
import subprocess
from pathlib import Path
import sys
from importlib import metadata

import pytest
import torch

import cotnpot
from cotnpot._extension import check_torch_version

ROOT = Path(__file__).resolve().parents[2]


def test_version_comes_from_the_version_file():
    version = (ROOT / "VERSION").read_text().strip()
    assert cotnpot.__version__ == version
    assert metadata.version("cotnpot") == version


def test_import_is_the_installed_package_with_its_extension():
    assert "site-packages" in cotnpot.__file__
    assert cotnpot._C.torch_version.split(".")[:2] == torch.__version__.split(".")[:2]


def test_torch_version_check():
    check_torch_version(torch.__version__, torch.__version__)
    with pytest.raises(ImportError, match=r"built against torch 1\.0\.0, but torch .* is imported now"):
        check_torch_version("1.0.0", torch.__version__)


def test_import_fails_clearly_under_another_torch():
    code = "import torch; torch.__version__ = '2.12.1'; import cotnpot"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert f"ImportError: cotnpot's C++ extension was built against torch {torch.__version__}" in result.stderr
    assert "but torch 2.12.1" in result.stderr and "Rebuild cotnpot with this torch" in result.stderr


@pytest.mark.parametrize("running", ["9.9.9", "1.13.1", "2.5.1+cpu"])
def test_import_fails_clearly_under_an_unsupported_torch(running):
    code = f"import torch; torch.__version__ = {running!r}; import cotnpot"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert f"cotnpot supports torch >=2.6,<3 and was built against torch {torch.__version__}" in result.stderr
    assert f"but torch {running}" in result.stderr and "outside that range" in result.stderr


@pytest.mark.parametrize("version, ok", [("2.13.0", True), ("2.6.0", True), ("2.5.1", False), ("1.13.1", False),
                                         ("3.0.0", False)])
def test_build_refuses_an_unsupported_torch(version, ok):
    """The CMake check (cmake/cotnpotTorchVersion.cmake) run in script mode on a given torch version."""
    result = subprocess.run(["cmake", f"-DTorch_VERSION={version}", "-DTorch_DIR=/somewhere/Torch",
                             f"-DPROJECT_SOURCE_DIR={ROOT}", "-P", str(ROOT / "cmake" / "cotnpotTorchVersion.cmake")],
                            capture_output=True, text=True)
    assert (result.returncode == 0) == ok, result.stderr
    if not ok:
        message = " ".join(result.stderr.split())   # CMake wraps its messages
        assert f"cotnpot needs torch >=2.6,<3, but the torch found at /somewhere/Torch is {version}" in message


def test_import_from_source_tree_explains_itself():
    code = "import sys; sys.path.insert(0, sys.argv[1]); import cotnpot"
    result = subprocess.run([sys.executable, "-c", code, str(ROOT / "python")], capture_output=True, text=True)
    assert "cotnpot's C++ extension is not built" in result.stderr


def test_jupyter_kernel_imports_cotnpot():
    jupyter_client = pytest.importorskip("jupyter_client")
    spec = jupyter_client.kernelspec.KernelSpecManager().get_kernel_spec("cotnpot")
    assert spec.argv[0].startswith(sys.prefix), spec.argv   # the kernel runs the venv's python
    manager, client = jupyter_client.manager.start_new_kernel(kernel_name="cotnpot", startup_timeout=60)
    try:
        code = ("import torch, cotnpot\n"
                "x = torch.arange(12.).reshape(1, 3, 4)\n"
                "print(cotnpot.__version__, round(cotnpot.sequence_logprob(x, torch.tensor([[0, 1, 2]])).item(), 4))")
        outputs = []
        # stdout only: importing Debian's torch with tqdm installed warns on stderr about ipywidgets
        client.execute_interactive(code, timeout=60, output_hook=lambda msg: outputs.append(
            msg["content"].get("text", "") if msg["content"].get("name") == "stdout" else ""))
        expected = torch.log_softmax(torch.arange(12.).reshape(3, 4), -1)[[0, 1, 2], [0, 1, 2]].sum().item()
        assert "".join(outputs).split() == [cotnpot.__version__, str(round(expected, 4))]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_docstring_examples_run():
    import doctest

    import cotnpot.answer
    import cotnpot.fused
    import cotnpot.fused_losses
    import cotnpot.logprob
    import cotnpot.losses
    import cotnpot.modules
    import cotnpot.models.hf_tiny
    import cotnpot.preference
    import cotnpot.train.pairs
    for module in (cotnpot, cotnpot.answer, cotnpot.fused, cotnpot.fused_losses, cotnpot.logprob, cotnpot.losses, cotnpot.modules, cotnpot.preference,
                   cotnpot.train.pairs, cotnpot.models.hf_tiny):
        result = doctest.testmod(module, extraglobs={"torch": torch})
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_build_tree_of_another_torch_is_reconfigured(tmp_path, capsys):
    """setup.py drops a CMake cache made for another torch (e.g. a Debian-era build/release), which would
    otherwise link against that torch while recording this one."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("cotnpot_setup_under_test", ROOT / "setup.py")
    source = (ROOT / "setup.py").read_text().split("\nsetup(")[0]   # the helpers, without running setup()
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, str(ROOT / "setup.py"), "exec"), module.__dict__)
    (tmp_path / "CMakeFiles").mkdir()
    (tmp_path / "CMakeCache.txt").write_text("Torch_DIR:PATH=/usr/share/cmake/Torch\n")
    module.forget_other_torch(tmp_path, Path("/venv/torch/share/cmake/Torch"))
    assert not (tmp_path / "CMakeCache.txt").exists() and not (tmp_path / "CMakeFiles").exists()
    assert "reconfiguring" in capsys.readouterr().out
    (tmp_path / "CMakeCache.txt").write_text("Torch_DIR:PATH=/venv/torch/share/cmake/Torch\n")
    module.forget_other_torch(tmp_path, Path("/venv/torch/share/cmake/Torch"))
    assert (tmp_path / "CMakeCache.txt").exists()


@pytest.mark.parametrize("top_level", [True, False])
def test_the_build_needs_doctest_only_for_its_own_tests(tmp_path, top_level):
    """Without doctest the library still configures (pip install . works), its tests left out with a
    message; as someone else's subproject it builds no tests at all."""
    import torch.utils
    if top_level:
        source = ROOT
    else:   # a consumer project that adds cotnpot as a subdirectory
        source = tmp_path / "consumer"
        source.mkdir()
        (source / "CMakeLists.txt").write_text(
            "cmake_minimum_required(VERSION 3.21)\nproject(consumer LANGUAGES CXX)\n"
            f"add_subdirectory({ROOT.as_posix()} cotnpot)\n")
    result = subprocess.run(["cmake", "-S", str(source), "-B", str(tmp_path / "build"), "-G", "Ninja",
                             "-DCMAKE_DISABLE_FIND_PACKAGE_doctest=ON", "-DCOTNPOT_BUILD_PYTHON=OFF",
                             f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
                             f"-DPython3_EXECUTABLE={sys.executable}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert ("doctest not found" in result.stdout) == top_level


def test_the_pipeline_is_a_subpackage_whose_names_cotnpot_exports_lazily():
    import subprocess
    import sys
    code = ("import sys, cotnpot\nassert 'cotnpot.pipeline' not in sys.modules and 'sympy' not in sys.modules\n"
            "from cotnpot import load_candidates, EvalOptions, CodeTask\n"
            "from cotnpot.pipeline.data import load_candidates as same\nassert load_candidates is same\n"
            "assert cotnpot.pipeline.metrics.accuracy_curve is cotnpot.accuracy_curve\n"
            "try:\n    cotnpot.no_such_name\nexcept AttributeError as e:\n    assert 'no_such_name' in str(e)\n"
            "else:\n    raise SystemExit('no AttributeError')\n"
            "import importlib.util\nfor old in ('metrics', 'evaluation', 'data'):\n"
            "    assert importlib.util.find_spec('cotnpot.' + old) is None, old\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
