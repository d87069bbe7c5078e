"""The C++ example builds against the *installed* library (find_package) and prints the right numbers."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import torch
import torch.utils

import cotnpot
from cotnpot import _build_info, reference

ROOT = Path(__file__).resolve().parents[2]


def run(cmd, **kwargs):
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def expected_lines():
    logits = torch.arange(2 * 4 * 10, dtype=torch.float32).sin().mul(3).reshape(2, 4, 10)
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6]).reshape(2, 4)
    labels[1, 0] = -100
    sums = reference.sequence_logprob(logits, labels)
    means = reference.sequence_logprob(logits, labels, reduction="mean")
    shifted = reference.sequence_logprob(logits, labels, shift=True)
    return sums, means, shifted


def test_cpp_example_links_installed_package():
    build = Path(_build_info.BUILD_DIR)
    # Fixed folders beside the build, so ccache and Ninja make reruns cheap.
    prefix, example_build = build.parent / "example-prefix", build.parent / "example-build"
    shutil.rmtree(prefix, ignore_errors=True)
    run(["cmake", "--install", build, "--prefix", prefix])
    assert (prefix / "lib" / "cmake" / "cotnpot" / "cotnpotConfig.cmake").exists()
    assert (prefix / "include" / "cotnpot" / "cotnpot.h").exists()

    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    launcher = [f"-DCMAKE_CXX_COMPILER_LAUNCHER={shutil.which('ccache')}"] if shutil.which("ccache") else []
    run(["cmake", "-S", ROOT / "examples" / "cpp", "-B", example_build, *generator, *launcher,
         "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={prefix};{torch.utils.cmake_prefix_path}"])
    run(["cmake", "--build", example_build])
    # Only the installed copy of libcotnpot can satisfy the executable.
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    out = run([example_build / "logprob_example"], env=env)

    assert out.splitlines()[0] == f"cotnpot {cotnpot.__version__}"
    sums, means, shifted = expected_lines()
    rows = re.findall(r"sequence (\d): sum (\S+) mean (\S+) shifted_sum (\S+)", out)
    assert len(rows) == 2, out
    for b, s, m, sh in rows:
        b = int(b)
        assert abs(float(s) - sums[b].item()) < 1e-4
        assert abs(float(m) - means[b].item()) < 1e-4
        assert abs(float(sh) - shifted[b].item()) < 1e-4


def test_cpp_program_reaches_ops_through_the_dispatcher_only():
    """ops_by_name names no cotnpot symbol and links with --as-needed: the link interface keeps libcotnpot."""
    build = Path(_build_info.BUILD_DIR)
    example_build = build.parent / "example-build"
    if not (example_build / "ops_by_name").exists():
        test_cpp_example_links_installed_package()
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    out = run([example_build / "ops_by_name"], env=env)
    losses = reference.simpo_loss(torch.tensor([-1.0, -0.5], dtype=torch.float64),
                                  torch.tensor([-2.0, -0.25], dtype=torch.float64))[0]
    rows = [float(x) for x in re.findall(r"simpo_loss \d: (\S+)", out)]
    assert len(rows) == 2, out
    assert all(abs(r - v) < 2e-6 for r, v in zip(rows, losses.tolist())), out


def test_cpp_program_without_torch_links_the_answer_and_exec_libraries():
    """find_package(cotnpot COMPONENTS answer exec) with no torch on the prefix path: the program grades
    answers and runs a job in the sandbox, and libtorch is nowhere in its dependencies."""
    build = Path(_build_info.BUILD_DIR)
    prefix, example_build = build.parent / "example-core-prefix", build.parent / "example-core-build"
    shutil.rmtree(prefix, ignore_errors=True)
    run(["cmake", "--install", build, "--prefix", prefix])
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    shutil.rmtree(example_build, ignore_errors=True)   # a cached Torch_DIR from an earlier run must not help
    run(["cmake", "-S", ROOT / "examples" / "cpp_without_torch", "-B", example_build, *generator,
         "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={prefix}"])
    run(["cmake", "--build", example_build])
    needed = run(["readelf", "-d", example_build / "grade_and_run"])
    assert "NEEDED" in needed and not re.search(r"libtorch|libc10|libcotnpot", needed), needed
    out = run([example_build / "grade_and_run"])
    assert "extracted 27" in out and "graded 1 1 0" in out and "classes 0 0 1 -1" in out, out
    assert "program ok 27 consistent 1" in out, out
    # The whole library as an optional component: found with LibTorch, left out (not an error) without.
    probe = build.parent / "example-optional"
    probe.mkdir(exist_ok=True)
    (probe / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.21)\nproject(probe LANGUAGES CXX)\n"
        "find_package(cotnpot REQUIRED COMPONENTS answer OPTIONAL_COMPONENTS cotnpot)\n"
        "message(STATUS \"probe: whole=${cotnpot_cotnpot_FOUND}\")\n"
        "if(TARGET cotnpot::answer)\n  message(STATUS \"probe: answer target\")\nendif()\n"
        "if(TARGET cotnpot::cotnpot)\n  message(STATUS \"probe: cotnpot target\")\nendif()\n")
    for prefixes, whole in ([prefix], False), ([prefix, torch.utils.cmake_prefix_path], True):
        shutil.rmtree(probe / "build", ignore_errors=True)
        configured = run(["cmake", "-S", probe, "-B", probe / "build", *generator,
                          f"-DCMAKE_PREFIX_PATH={';'.join(map(str, prefixes))}"])
        assert f"probe: whole={'TRUE' if whole else 'FALSE'}" in configured, configured
        assert "probe: answer target" in configured, configured
        assert ("probe: cotnpot target" in configured) == whole, configured
    # Not found, each with a message that says why: the whole library without LibTorch on the prefix path
    # (CMake's own message had named neither torch's package directory nor the torch-free components), and an
    # unknown component (only cotnpot_FOUND FALSE, no name).
    # The messages read as written: the command to paste is whole (they had been CMake lists, printed with ';'
    # between their parts: "import torch.utils; ;print(...)", a new user).
    for request, said in (("", r"add the directory that `python -c 'import torch\.utils; "
                               r"print\(torch\.utils\.cmake_prefix_path\)'` prints .*COMPONENTS answer exec\)\."),
                          (" COMPONENTS answer grader", r"unknown component 'grader': cotnpot's components are "
                                                        r"cotnpot \(the whole")):
        (probe / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.21)\nproject(probe LANGUAGES CXX)\n"
                                              f"find_package(cotnpot REQUIRED{request})\n")
        shutil.rmtree(probe / "build", ignore_errors=True)
        failed = subprocess.run(["cmake", "-S", str(probe), "-B", str(probe / "build"), *generator,
                                 f"-DCMAKE_PREFIX_PATH={prefix}"], capture_output=True, text=True)
        message = " ".join((failed.stdout + failed.stderr).split())
        assert failed.returncode != 0 and re.search(said, message), message
        assert ";" not in message.replace("utils; print", ""), message
