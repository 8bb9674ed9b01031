#!/bin/sh
# Runs the service named by the first argument, else by CASEFLOW_SERVICE (set when the image holds one service).
set -eu
service="${1:-${CASEFLOW_SERVICE:-}}"
case "$service" in
  intake|routing|sla|claims|notify) exec python -m "caseflow_${service}" ;;
  *) echo "usage: caseflow intake|routing|sla|claims|notify" >&2; exit 64 ;;
esac
