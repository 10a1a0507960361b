#!/usr/bin/env bash
# Print the first usable CPython of the versions asked for, in the order given.
#
#   scripts/find_python.sh 3.11 3.12 3.13              # search, print e.g. /usr/bin/python3.11
#   scripts/find_python.sh --only /opt/py/bin/python3 3.11 3.12 3.13   # check one interpreter
#
# For each version it tries, in order: `python3.X` on PATH, pyenv's installs
# ($PYENV_ROOT/versions/3.X.*, newest patch first), /usr/local/bin and /usr/bin, then uv's
# `uv python find` (interpreters installed by `uv python install` where that can download).
# An interpreter counts only if it runs, reports exactly that version and has the `venv` and
# `ensurepip` modules (Debian and Ubuntu ship those apart, as python3.X-venv): a pyenv shim for
# a version pyenv has not selected, or a python3.X without venv, is passed over.
# Exit 0 with the interpreter's path on stdout; exit 1 with what was looked for on stderr.
# The Makefile (`PYTHON ?=`) and scripts/check_python_versions.py both use it.
set -uo pipefail

only=""
if [[ "${1:-}" == "--only" ]]; then
  only="${2:-}"
  shift 2 || shift $#
fi
if (($# == 0)); then
  echo "usage: $0 [--only PYTHON] VERSION..." >&2
  exit 2
fi

# "3.11, 3.12 or 3.13" for the messages.
if (($# > 1)); then
  wanted="$(IFS=,; echo "${*:1:$#-1}" | sed 's/,/, /g') or ${!#}"
else
  wanted="$1"
fi

# usable PYTHON VERSION: it runs, is CPython VERSION, and can create a venv with pip.
usable() {
  "$1" -c "import sys, venv, ensurepip
sys.exit(sys.implementation.name != 'cpython' or '%d.%d' % sys.version_info[:2] != '$2')" \
    >/dev/null 2>&1
}

if [[ -n "$only" ]]; then
  for version in "$@"; do
    if usable "$only" "$version"; then
      echo "$only"
      exit 0
    fi
  done
  found=$("$only" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)
  {
    echo "error: PYTHON=$only is ${found:+Python $found, }not a usable CPython $wanted."
    echo "  Harvest needs CPython $wanted with the venv module (Debian/Ubuntu: apt-get install"
    echo "  python3.X-venv). Unset PYTHON to let make search, or point it at another interpreter."
  } >&2
  exit 1
fi

pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
for version in "$@"; do
  candidates=()
  command -v "python$version" >/dev/null 2>&1 && candidates+=("$(command -v "python$version")")
  # pyenv's installs, newest patch first (3.12.10 before 3.12.9).
  while IFS= read -r dir; do
    candidates+=("$dir/bin/python$version")
  done < <(ls -d "$pyenv_root/versions/$version".* 2>/dev/null | sort -t. -k3,3nr)
  candidates+=("/usr/local/bin/python$version" "/usr/bin/python$version")
  if command -v uv >/dev/null 2>&1; then
    found=$(uv python find --no-python-downloads "$version" 2>/dev/null) && candidates+=("$found")
  fi
  for python in "${candidates[@]}"; do
    if [[ -x "$python" ]] && usable "$python" "$version"; then
      echo "$python"
      exit 0
    fi
  done
done

{
  echo "error: no usable Python found. Harvest needs CPython $wanted with the venv module."
  echo "  Looked for python3.X on PATH, in pyenv ($pyenv_root/versions), /usr/local/bin, /usr/bin"
  echo "  and uv's installed Pythons. Install one, for example:"
  echo "    Debian 12:  apt-get install python3.11 python3.11-venv"
  echo "    Debian 13:  apt-get install python3.13 python3.13-venv"
  echo "    Ubuntu 24.04: apt-get install python3.12 python3.12-venv"
  echo "    pyenv:      pyenv install 3.13   (or uv python install 3.13, where it can download)"
  echo "  or name one: make venv PYTHON=/path/to/python3.X"
} >&2
exit 1
