-- Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d), as
-- POSTGRES_USER connected to POSTGRES_DB (the Airflow metadata database, "airflow").
-- Creates the other two databases; they belong to the same role. No passwords here: the role's
-- password comes from POSTGRES_PASSWORD in .env.
CREATE DATABASE harvest;  -- the warehouse (HARVEST_WAREHOUSE_URL)
CREATE DATABASE mlflow;   -- MLflow's backend store
