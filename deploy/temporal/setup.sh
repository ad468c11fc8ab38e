#!/bin/sh
# Registers in Temporal what crmflow needs before its API and workers start:
#   1. the namespace (TEMPORAL_NAMESPACE, created if missing),
#   2. the custom search attributes (CRM_SEARCH_ATTRIBUTES: "Name=Type ...").
# Run by the temporal-setup job (temporalio/admin-tools image, `temporal` CLI) on
# every `docker compose up`; idempotent: what already exists is left alone.
set -eu

ADDRESS=${TEMPORAL_ADDRESS:-temporal:7233}
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
RETENTION=${TEMPORAL_NAMESPACE_RETENTION:-30d}
ATTRIBUTES=${CRM_SEARCH_ATTRIBUTES:?set CRM_SEARCH_ATTRIBUTES to \"Name=Type ...\"}
ATTEMPTS=${SETUP_ATTEMPTS:-60}

log() { echo "temporal-setup: $*"; }

# Like samples-server's create-namespace.sh: talk to the server by its IPv4 address.
host=${ADDRESS%:*}
port=${ADDRESS##*:}
ip=$(getent ahosts "$host" 2>/dev/null | awk '$1 ~ /^[0-9.]+$/ { print $1; exit }' || true)
[ -n "$ip" ] && ADDRESS="$ip:$port"

# retry DESCRIPTION COMMAND...: run COMMAND until it succeeds, ATTEMPTS times 2 s apart.
retry() {
    what=$1
    shift
    n=1
    until "$@"; do
        if [ "$n" -ge "$ATTEMPTS" ]; then
            log "gave up: $what (after $n attempts)" >&2
            return 1
        fi
        n=$((n + 1))
        sleep 2
    done
}

cluster_healthy() {
    temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1
}

# Creates one search attribute; "already exists" with the same type counts as done.
create_attribute() {
    if out=$(temporal operator search-attribute create --address "$ADDRESS" \
        --namespace "$NAMESPACE" --name "$1" --type "$2" 2>&1); then
        log "search attribute $1 ($2) is registered"
        return 0
    fi
    case $out in
        *"different type"*)
            log "search attribute $1 exists with another type than $2: $out" >&2
            exit 1
            ;;
        *"already exists"*)
            log "search attribute $1 ($2) already exists"
            return 0
            ;;
    esac
    log "could not register $1 yet: $out" >&2
    return 1
}

# True when every attribute is listed in the namespace with its type.
all_attributes_listed() {
    listing=$(temporal operator search-attribute list --address "$ADDRESS" \
        --namespace "$NAMESPACE" 2>/dev/null) || return 1
    for pair in $ATTRIBUTES; do
        printf '%s\n' "$listing" | awk -v n="${pair%%=*}" -v t="${pair#*=}" \
            '$1 == n && tolower($2) == tolower(t) { found = 1 } END { exit !found }' \
            || return 1
    done
}

log "waiting for the Temporal server at $ADDRESS"
retry "Temporal server health" cluster_healthy

if temporal operator namespace describe --address "$ADDRESS" \
    --namespace "$NAMESPACE" >/dev/null 2>&1; then
    log "namespace $NAMESPACE already exists"
else
    log "creating namespace $NAMESPACE (retention $RETENTION)"
    temporal operator namespace create --address "$ADDRESS" \
        --namespace "$NAMESPACE" --retention "$RETENTION"
fi

# A namespace just created takes a few seconds to reach every server cache:
# each attribute is retried until the server accepts it.
for pair in $ATTRIBUTES; do
    retry "search attribute ${pair%%=*}" create_attribute "${pair%%=*}" "${pair#*=}"
done

retry "search attributes listed in $NAMESPACE" all_attributes_listed
log "namespace $NAMESPACE is ready with: $ATTRIBUTES"
