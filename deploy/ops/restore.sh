#!/bin/sh
# Restore the MongoDB replica set from a backup of the caseflow-mongodb-backup CronJob.
#
#   deploy/ops/restore.sh [-n NAMESPACE] [--dry-run] ARCHIVE|latest
#
# 1. stops the five services (each Deployment scaled to 0; their autoscalers leave a Deployment at 0 alone),
# 2. runs deploy/ops/restore-job.yaml with the archive and waits for it,
# 3. starts the services again with the replicas they had.
# The services resume from their committed Kafka offsets; to redo what happened after the backup, rewind
# their groups to the backup's time while they are stopped (deploy/README.md, "Restore drill").
# KUBECTL overrides the kubectl to run; --dry-run prints the commands instead of running them.
set -eu

namespace=caseflow
dry_run=
archive=
here=$(cd "$(dirname "$0")" && pwd)
kubectl=${KUBECTL:-kubectl}
services="intake routing sla claims notify"

usage() { echo "usage: $0 [-n NAMESPACE] [--dry-run] ARCHIVE|latest" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--namespace) [ $# -ge 2 ] || usage; namespace=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) [ -z "$archive" ] || usage; archive=$1; shift ;;
  esac
done
[ -n "$archive" ] || usage
case "$archive" in
  latest|caseflow-*.archive.gz) ;;
  *) echo "$0: the archive is 'latest' or a name like caseflow-20261203T021700Z.archive.gz" >&2; exit 2 ;;
esac

run() {
  if [ -n "$dry_run" ]; then echo "$kubectl $*"; else "$kubectl" "$@"; fi
}

# The replicas each service has now, to give them back afterwards.
replicas=""
for s in $services; do
  n=$("$kubectl" -n "$namespace" get deployment "caseflow-$s" -o jsonpath='{.spec.replicas}')
  replicas="$replicas $s=$n"
done

echo "stopping the services:$replicas"
for s in $services; do
  run -n "$namespace" scale deployment "caseflow-$s" --replicas=0
done
run -n "$namespace" wait --for=delete pod -l 'app.kubernetes.io/component in (intake,routing,sla,claims,notify)' --timeout=300s

echo "restoring $archive"
run -n "$namespace" delete job caseflow-mongodb-restore --ignore-not-found
if [ -n "$dry_run" ]; then
  echo "$kubectl -n $namespace create -f - < $here/restore-job.yaml  (BACKUP_ARCHIVE=$archive)"
else
  sed "s|value: latest|value: $archive|" "$here/restore-job.yaml" | "$kubectl" -n "$namespace" create -f -
fi
if [ -z "$dry_run" ]; then
  # The Job either completes or fails (backoffLimit 0): poll for either, never wait on one forever.
  while :; do
    state=$("$kubectl" -n "$namespace" get job caseflow-mongodb-restore -o jsonpath='{.status.succeeded}/{.status.failed}')
    case "$state" in
      1/*) break ;;
      */[1-9]*)
        "$kubectl" -n "$namespace" logs job/caseflow-mongodb-restore --tail=50 >&2 || true
        echo "$0: the restore failed; the services stay stopped (replicas were:$replicas)" >&2
        exit 1 ;;
    esac
    sleep 5
  done
else
  echo "$kubectl -n $namespace get job caseflow-mongodb-restore  (until it has succeeded)"
fi

echo "starting the services again"
for pair in $replicas; do
  run -n "$namespace" scale deployment "caseflow-${pair%%=*}" --replicas="${pair#*=}"
done
echo "done: check with 'caseflowctl doctor' from the toolbox pod"
