# One image per deployable, each a target of this file, built from the repository root:
#
#   docker build --target ingest  -t coldchain-ingest .
#   docker build --target alerts  -t coldchain-alerts .
#   docker build --target gateway -t coldchain-gateway .
#   docker build --target admin   -t coldchain-admin .
#
# compose.yaml builds each service from its target. Every target runs its own console
# command as ENTRYPOINT, so `docker compose run ingest --env-file FILE` passes options on.
# Settings come from COLDCHAIN_* environment variables (docs/configuration.md).

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN groupadd --system --gid 10001 coldchain \
    && useradd --system --uid 10001 --gid coldchain --no-create-home --home-dir /app coldchain
# Relative default paths of the settings (fleet/..., firmware-sim/...) resolve here.
WORKDIR /app
# The versions the tests ran with (make lock).
COPY constraints.txt /src/constraints.txt
ENV PIP_CONSTRAINT=/src/constraints.txt
COPY domain /src/domain
RUN pip install /src/domain
# The shared adapters (coldchain_io); each target installs the extras it needs.
COPY adapters /src/adapters


FROM base AS ingest
COPY ingest /src/ingest
RUN pip install "/src/adapters[mqtt,influx]" /src/ingest
COPY fleet /app/fleet
# The rule engine's state lives here on a volume (COLDCHAIN_INGEST_STATE).
RUN mkdir -p /var/lib/coldchain && chown coldchain:coldchain /var/lib/coldchain
USER coldchain
ENTRYPOINT ["coldchain-ingest"]


FROM base AS alerts
COPY alerts /src/alerts
RUN pip install "/src/adapters[mqtt,influx]" /src/alerts
COPY fleet /app/fleet
USER coldchain
ENTRYPOINT ["coldchain-alerts"]


FROM base AS gateway
COPY firmware-sim /src/firmware-sim
COPY gateway /src/gateway
# With the simulator, which plugs its probes into the gateway (firmware-sim's [gateway]
# extra): compose.yaml's gateway is a simulated van. A gateway on real probes needs only
# /src/adapters[mqtt] and /src/gateway.
RUN pip install "/src/adapters[mqtt]" /src/gateway "/src/firmware-sim[gateway]"
COPY firmware-sim/scenarios /app/firmware-sim/scenarios
# The outbox lives here on a volume; a fresh named volume takes this owner, so the
# non-root user can write to it.
RUN mkdir -p /var/lib/coldchain && chown coldchain:coldchain /var/lib/coldchain
USER coldchain
ENTRYPOINT ["coldchain-gateway"]


# InfluxDB 1.x's own binary, for `influxd backup -portable` and `restore`: the image
# compose.yaml runs, so client and server are the same version.
FROM influxdb:1.11 AS influxd


FROM base AS admin
# pg_dump and pg_restore of PostgreSQL 16, the major version of compose.yaml's postgres
# (an older pg_dump refuses a newer server): Debian has 15, PostgreSQL's own repository 16.
ARG POSTGRES_MAJOR=16
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && install -d /usr/share/postgresql-common/pgdg \
    && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
        https://www.postgresql.org/media/keys/ACCC4CF8.asc \
    && . /etc/os-release \
    && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends "postgresql-client-${POSTGRES_MAJOR}" \
    && apt-get purge -y curl && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
COPY --from=influxd /usr/bin/influxd /usr/bin/influxd
# coldchain-alerts too: restore runs its `db upgrade` and `audit verify`.
COPY alerts /src/alerts
COPY admin /src/admin
RUN pip install "/src/adapters[mqtt,influx]" /src/alerts /src/admin
# Backups are made here, on a named volume that takes this owner.
RUN mkdir -p /var/lib/coldchain/backups && chown coldchain:coldchain /var/lib/coldchain/backups
USER coldchain
ENTRYPOINT ["coldchain-admin"]
