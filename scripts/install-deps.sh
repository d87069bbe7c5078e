#!/usr/bin/env bash
# Installs the Debian packages cotnpot builds, tests and runs with; does nothing when all are present.
# Safe to run any number of times. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  # toolchain
  g++ make cmake ninja-build ccache git
  # Python: the venv is made from Debian's /usr/bin/python3, the only one with Debian's torch
  python3 python3-dev python3-venv python3-pip python3-wheel python3-setuptools
  # LibTorch for C++ and Python; without OpenBLAS torch falls back to the reference BLAS (~50x slower GEMM)
  libtorch-dev python3-torch libopenblas0-pthread
  # bindings, C++ libraries and test tools
  pybind11-dev python3-pybind11 libfmt-dev libeigen3-dev doctest-dev
  python3-pytest python3-numpy python3-tqdm
  # reports: the accuracy-vs-N plots of `cotnpot eval`
  python3-matplotlib
  # the grading benchmark's sympy baseline
  python3-sympy
  # the Jupyter kernel of the venv, and the test that talks to it
  python3-ipykernel python3-jupyter-client
  # the test that runs examples/rerank.ipynb
  python3-nbclient python3-nbformat
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
