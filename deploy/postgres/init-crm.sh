#!/usr/bin/env bash
# Creates the CRM's own role and database on the shared PostgreSQL server.
#
# The postgres image runs this once, from /docker-entrypoint-initdb.d, when it
# initialises an empty data volume (it is skipped on every later start).
# Temporal's databases (temporal, temporal_visibility) are not made here: the
# temporal-schema job creates and migrates them with temporal-sql-tool.
# Works both executed and sourced by the image's entrypoint (so: no `set -u`).
set -e

: "${CRM_DB_NAME:?CRM_DB_NAME must be set}"
: "${CRM_DB_USER:?CRM_DB_USER must be set}"
: "${CRM_DB_PASSWORD:?CRM_DB_PASSWORD must be set}"

echo "init-crm: creating role ${CRM_DB_USER} and database ${CRM_DB_NAME}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
    --set=crm_db="$CRM_DB_NAME" --set=crm_user="$CRM_DB_USER" \
    --set=crm_password="$CRM_DB_PASSWORD" <<'SQL'
CREATE ROLE :"crm_user" WITH LOGIN PASSWORD :'crm_password';
CREATE DATABASE :"crm_db" OWNER :"crm_user";
REVOKE ALL ON DATABASE :"crm_db" FROM PUBLIC;
SQL
