#!/bin/sh
# Creates Temporal's two PostgreSQL databases and brings both schemas to the version the server
# needs (the schemas are embedded in temporal-sql-tool). Safe to run again: an existing database is
# kept and only updated. Connection from the tool's own variables: SQL_PLUGIN, SQL_HOST, SQL_PORT,
# SQL_USER, SQL_PASSWORD. Run by the compose file's `temporal-schema` service and by
# scripts/cluster.ts, which runs that service's command.
set -eu
for pair in "${TEMPORAL_DB:-temporal}:postgresql/v12/temporal" "${TEMPORAL_VISIBILITY_DB:-temporal_visibility}:postgresql/v12/visibility"; do
  db=${pair%%:*}
  schema=${pair#*:}
  if temporal-sql-tool --db "$db" setup-schema --version 0.0 2>/dev/null; then
    echo "setup-schema: database $db found"
  else
    # No database yet: create it, then the versioning tables.
    temporal-sql-tool --db "$db" create-database
    temporal-sql-tool --db "$db" setup-schema --version 0.0
  fi
  temporal-sql-tool --db "$db" update-schema --schema-name "$schema"
  echo "setup-schema: $db is at the latest $schema version"
done
