#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d, after
# 10-harvest.sql): the Harvest app's read-only role on the warehouse. Its password comes from
# HARVEST_APP_DB_PASSWORD in .env; it may connect to "harvest" and SELECT, nothing else, on the
# tables that exist and on every table the warehouse's owner creates later.
# HARVEST_APP_DB and HARVEST_APP_ROLE (default harvest, harvest_app) exist for the test.
set -eu
db="${HARVEST_APP_DB:-harvest}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$db" \
  -v app_password="$HARVEST_APP_DB_PASSWORD" -v owner="$POSTGRES_USER" -v db="$db" \
  -v role="${HARVEST_APP_ROLE:-harvest_app}" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'app_password';
ALTER ROLE :"role" SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE :"db" TO :"role";
GRANT USAGE ON SCHEMA public TO :"role";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"role";
SQL
