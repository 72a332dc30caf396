#!/usr/bin/env bash
# Installs the infrastructure tools, each into a virtualenv of its own, and links them into
# the project's venv:  .venv/tools/sam  -> .venv/bin/sam
#                      .venv/tools/checkov -> .venv/bin/checkov
#                      .venv/tools/aws -> .venv/bin/aws (the docs' commands, run by tests)
# Own venvs because aws-sam-cli pins boto3==1.43.108 and checkov pins boto3==1.35.49 (plus
# packaging<24, networkx<2.7): neither fits requirements/dev.txt nor the other.
# Idempotent: a tool is reinstalled only when its pin file changed. With uv (the project venv's,
# or UV=path) about half a minute cold; with pip, when there is no uv, about 2.5 minutes.
#
#   tests/infra/tools/install.sh            (VENV=path overrides .venv, PYTHON=python3)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="${VENV:-$repo/.venv}"
python="${PYTHON:-python3}"
uv="${UV:-$venv/bin/uv}"
mkdir -p "$venv/bin" "$venv/tools"
install_tool() {
  local tool="$1" pins="$here/$1.txt" dir="$venv/tools/$1"
  if ! { [ -x "$dir/bin/$tool" ] && cmp -s "$pins" "$dir/.pins"; }; then
    echo "installing $tool into $dir"
    rm -rf "$dir"
    if [ -x "$uv" ]; then
      "$uv" venv --quiet --python "$python" "$dir"
      "$uv" pip install --quiet --python "$dir/bin/python" -r "$pins"
    else
      "$python" -m venv "$dir"
      "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$pins"
    fi
    cp "$pins" "$dir/.pins"
  fi
  ln -sfn "../tools/$tool/bin/$tool" "$venv/bin/$tool"
}
# Side by side: the two installs are mostly waiting on downloads.
install_tool sam & sam_pid=$!
install_tool checkov & checkov_pid=$!
install_tool aws & aws_pid=$!
wait "$sam_pid"
wait "$checkov_pid"
wait "$aws_pid"
"$venv/bin/sam" --version
echo "checkov $("$venv/bin/checkov" --version)"
"$venv/bin/aws" --version
