#!/bin/sh
# Install caseflow into a virtual environment from the committed lock file (uv.lock): exactly the versions
# every test ran with, nothing resolved anew. The image's build stage runs it; so can a VM or a laptop.
#   deploy/install.sh /opt/caseflow           the five services and caseflowctl
#   deploy/install.sh /opt/caseflow intake    one service and caseflowctl
# Needs uv (UV names it, else the one on PATH) and the repository's root: pyproject.toml, uv.lock, the packages.
set -eu
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 TARGET_VENV [intake|routing|sla|claims|notify]" >&2; exit 2; }
target=$1
case "${2:-}" in
  "") services="intake routing sla claims notify" ;;
  intake|routing|sla|claims|notify) services=$2 ;;
  *) echo "$0: no service '$2'" >&2; exit 2 ;;
esac
packages="--package caseflow-ops"
for s in $services; do packages="$packages --package caseflow-$s"; done
cd "$(dirname "$0")/.."
# shellcheck disable=SC2086 # one word per --package option
UV_PROJECT_ENVIRONMENT="$target" "${UV:-uv}" sync --locked --no-dev --no-editable --compile-bytecode $packages
