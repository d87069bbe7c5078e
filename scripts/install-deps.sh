#!/usr/bin/env bash
# Installs the Debian packages cotnpot builds, tests and runs with; does nothing when all are present.
# torch and every Python library come from PyPI into the .venv (the Makefile, pinned by constraints.txt).
# Safe to run any number of times. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  # toolchain
  g++ make cmake ninja-build ccache git
  # the interpreter the .venv is made from, and its headers for the extension module
  python3 python3-dev python3-venv
  # C++ libraries and the C++ test framework
  libfmt-dev libeigen3-dev doctest-dev
  # what sandboxed programs run on: the executor's default interpreter is /usr/bin/python3, outside the
  # .venv, and model-written programs (PoT, ToRA, AQuA) import these
  python3-numpy python3-sympy
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
