#!/bin/sh
# caseflow SERVICE   runs intake, routing, sla, claims or notify (else CASEFLOW_SERVICE, set when the image holds one);
# caseflow ctl ...   runs the operator CLI (caseflowctl), e.g. `caseflow ctl dlq list`.
set -eu
service="${1:-${CASEFLOW_SERVICE:-}}"
case "$service" in
  intake|routing|sla|claims|notify) exec python -m "caseflow_${service}" ;;
  ctl) shift; exec caseflowctl "$@" ;;
  *) echo "usage: caseflow intake|routing|sla|claims|notify | caseflow ctl COMMAND" >&2; exit 64 ;;
esac
