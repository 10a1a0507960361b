# syntax=docker/dockerfile:1
# Harvest's Airflow image: Airflow 3.3.2 on Python 3.11, Chromium for pages that need JavaScript,
# exactly the runtime lock, and the harvest package. Used by every Airflow service and MLflow in
# docker-compose.yml. Build: docker compose build   (or: docker build -t harvest-airflow:0.1.0 .)
#
# Why the official image and not python:3.11-slim-bookworm + the lock: the official image brings
# what a production Airflow needs and we would otherwise re-create: the `airflow` user (uid 50000,
# gid 0, OpenShift-friendly), the entrypoint (waits for the metadata database, runs `airflow ...`,
# propagates signals to Celery workers through dumb-init) and a build tested by the Airflow
# project against apache-airflow 3.3.2. The price is that the image ships extra providers that our
# lock does not pin; the lock is installed on top (--no-deps), so every package Harvest pins is at
# the locked version, and the build fails below if the lock and the image disagree on Airflow.
# The slim base would give a byte-for-byte lock environment but would need its own entrypoint,
# user and signal handling; revisit if the extra providers ever get in the way.
FROM apache/airflow:3.3.2-python3.11

# Chromium and its driver for Selenium (Debian packages of the same release, so versions match);
# a C compiler for dedupe's affinegap and its other C extensions, which PyPI ships as sources only.
USER root
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        chromium \
        chromium-driver \
        gcc \
        libc6-dev \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

ENV HARVEST_REPO=/opt/harvest \
    HARVEST_HOME=/opt/airflow/harvest \
    AIRFLOW_CONFIG=/opt/harvest/airflow.cfg

# Owned by `airflow` so the named volumes docker compose mounts here start with that owner.
RUN mkdir -p "${HARVEST_REPO}" "${HARVEST_HOME}" \
    && chown -R airflow:0 "${HARVEST_REPO}" "${HARVEST_HOME}" \
    && chmod -R g+rwX "${HARVEST_REPO}" "${HARVEST_HOME}"

# Back to the unprivileged user: the official image installs Python packages as `airflow`.
USER airflow
WORKDIR ${HARVEST_REPO}

# The fully resolved runtime lock, exactly (no resolver, no extra dependencies pulled in).
COPY --chown=airflow:0 requirements.lock ./
RUN pip install --no-cache-dir --no-deps -r requirements.lock \
    && python -c "import importlib.metadata as m, sys; v = m.version('apache-airflow'); sys.exit(0 if v == '3.3.2' else f'lock has apache-airflow {v}, image is 3.3.2')" \
    && python -c "import airflow.providers.celery.executors.celery_executor" \
    && python -c "import airflow.providers.elasticsearch, airflow.providers.fab, airflow.providers.postgres, airflow.providers.mongo, airflow.providers.redis, sentry_sdk"

# The harvest package (pyproject.toml builds it from include/), without touching the lock.
COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 include/ ./include/
RUN pip install --no-cache-dir --no-deps . \
    && python -c "import harvest.config, harvest_demo, dedupe, affinegap"

# The CSS/JS Data Docs load from CDNs, vendored from the npm registry with their integrity hashes
# checked (scripts/data_docs_assets.lock.json), so Data Docs render offline; a hash that differs
# fails the build.
COPY --chown=airflow:0 scripts/vendor_data_docs.py scripts/data_docs_assets.lock.json ./scripts/
RUN python scripts/vendor_data_docs.py --dest "${HARVEST_REPO}/data-docs-assets"
ENV HARVEST_DATA_DOCS_ASSETS=/opt/harvest/data-docs-assets

# DAGs, plugins and configuration. airflow.cfg refers to ${HARVEST_REPO}/dags, ${HARVEST_REPO}/plugins
# and ${AIRFLOW_HOME} (the image sets AIRFLOW_HOME=/opt/airflow), all set above.
COPY --chown=airflow:0 airflow.cfg ./
COPY --chown=airflow:0 plugins/ ./plugins/
COPY --chown=airflow:0 dags/ ./dags/

ENV PYTHONPATH=/opt/harvest/plugins

WORKDIR /opt/airflow
