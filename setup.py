"""Builds cotnpot's C++ core and bindings with CMake and puts them into the Python package.

The CMake build directory is the project's own (build/release, or $COTNPOT_BUILD_DIR), shared with
`make` and CTest, so `pip install` after a build only relinks what changed.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


# The supported torch releases, ">=MIN,<BELOW", as pyproject.toml's dependencies say (CMake reads the same).
TORCH_RANGE = re.search(r'"torch(>=[0-9.]+,<[0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)


def forget_other_torch(build_dir: Path, torch_dir: Path) -> None:
    """A build tree configured for another torch (another venv, an upgraded torch) would link against that
    one while _build_info named this one: drop its CMake cache, so it is configured afresh for this torch."""
    cache = build_dir / "CMakeCache.txt"
    if not cache.exists():
        return
    cached = re.search(r"^Torch_DIR:PATH=(.*)$", cache.read_text(errors="replace"), re.M)
    if cached and Path(cached.group(1)).resolve() != torch_dir.resolve():
        print(f"cotnpot: {build_dir} was configured for the torch in {cached.group(1)}; "
              f"reconfiguring for {torch_dir}", flush=True)
        cache.unlink()
        shutil.rmtree(build_dir / "CMakeFiles", ignore_errors=True)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        import torch
        import torch.utils

        build_dir = Path(os.environ.get("COTNPOT_BUILD_DIR", ROOT / "build" / "release")).resolve()
        torch_dir = Path(torch.utils.cmake_prefix_path) / "Torch"
        forget_other_torch(build_dir, torch_dir)
        if not (build_dir / "CMakeCache.txt").exists():
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            subprocess.check_call(
                ["cmake", "-S", str(ROOT), "-B", str(build_dir), *generator,
                 "-DCMAKE_BUILD_TYPE=Release", f"-DPython3_EXECUTABLE={sys.executable}",
                 f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}", f"-DTorch_DIR={torch_dir}"])
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.check_call(["cmake", "--build", str(build_dir), "--parallel", jobs])

        package_dir = Path(self.get_ext_fullpath(ext.name)).parent
        package_dir.mkdir(parents=True, exist_ok=True)
        lib_dir = build_dir / "lib"
        # _C finds libcotnpot beside itself ($ORIGIN) under its soname (SOVERSION = major.minor).
        major, minor = (ROOT / "VERSION").read_text().strip().split(".")[:2]
        for built in [*lib_dir.glob("_C*.so"), lib_dir / f"libcotnpot.so.{major}.{minor}"]:
            shutil.copyfile(built.resolve(), package_dir / built.name)
        (package_dir / "_build_info.py").write_text(
            '"""Written by setup.py when the extension was built."""\n'
            f"TORCH_VERSION = {torch.__version__!r}\n"
            f"TORCH_RANGE = {TORCH_RANGE!r}\n"
            f"BUILD_DIR = {str(build_dir)!r}\n")


setup(ext_modules=[CMakeExtension("cotnpot._C")], cmdclass={"build_ext": CMakeBuild})
