#!/bin/sh
# Makes the workers' build the current version of their Worker Deployment: Temporal then
# sends every new process to it, while a process already running stays pinned to the build
# it started on (the old build drains; stop its workers when it has no open process left).
# Run by the worker-version job (temporalio/admin-tools image, `temporal` CLI) on every
# `docker compose up`; a version exists once one of its workers polls, so it is retried.
set -eu

ADDRESS=${TEMPORAL_ADDRESS:-temporal:7233}
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
DEPLOYMENT=${CRMFLOW_WORKER_DEPLOYMENT:?set CRMFLOW_WORKER_DEPLOYMENT}
BUILD_ID=${CRMFLOW_WORKER_BUILD_ID:?set CRMFLOW_WORKER_BUILD_ID}
ATTEMPTS=${SETUP_ATTEMPTS:-60}

log() { echo "worker-version: $*"; }

host=${ADDRESS%:*}
port=${ADDRESS##*:}
ip=$(getent ahosts "$host" 2>/dev/null | awk '$1 ~ /^[0-9.]+$/ { print $1; exit }' || true)
[ -n "$ip" ] && ADDRESS="$ip:$port"

log "making $DEPLOYMENT build $BUILD_ID current once its workers poll"
n=1
until temporal worker deployment set-current-version --address "$ADDRESS" \
    --namespace "$NAMESPACE" --deployment-name "$DEPLOYMENT" --build-id "$BUILD_ID" \
    --yes >/dev/null 2>&1; do
    if [ "$n" -ge "$ATTEMPTS" ]; then
        log "gave up: no worker of $DEPLOYMENT build $BUILD_ID polled (after $n attempts)" >&2
        exit 1
    fi
    n=$((n + 1))
    sleep 2
done
log "$DEPLOYMENT build $BUILD_ID is current: new processes start on it"
