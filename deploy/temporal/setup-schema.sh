#!/bin/sh
# Creates Temporal's two databases on the PostgreSQL server and brings their schemas to
# the version this admin-tools image ships (as samples-server's setup-postgres.sh does).
# Run by the temporal-schema job before the server starts; idempotent: `create` accepts
# an existing database, `setup-schema` keeps a newer version, `update-schema` applies
# only what is missing.
set -eu

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
DB_PORT=${DB_PORT:-5432}
DBNAME=${DBNAME:-temporal}
VISIBILITY_DBNAME=${VISIBILITY_DBNAME:-temporal_visibility}
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
        -u "$POSTGRES_USER" "$@"
}

echo "temporal-schema: database $DBNAME"
sql_tool --db "$DBNAME" create
sql_tool --db "$DBNAME" setup-schema -v 0.0
sql_tool --db "$DBNAME" update-schema -d "$SCHEMA_DIR/temporal/versioned"

echo "temporal-schema: database $VISIBILITY_DBNAME"
sql_tool --db "$VISIBILITY_DBNAME" create
sql_tool --db "$VISIBILITY_DBNAME" setup-schema -v 0.0
sql_tool --db "$VISIBILITY_DBNAME" update-schema -d "$SCHEMA_DIR/visibility/versioned"

echo "temporal-schema: done"
