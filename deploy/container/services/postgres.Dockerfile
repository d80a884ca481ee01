# PostgreSQL from Debian bookworm's packages, for machines that cannot pull postgres:18. Takes
# the official image's POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB and keeps its data
# under /var/lib/postgresql (the compose volume), like the official image.
ARG FIRSTPITCH_BASE_IMAGE
FROM ${FIRSTPITCH_BASE_IMAGE}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends \
      postgresql-15 && rm -rf /var/lib/apt/lists/* /var/lib/postgresql/15
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/
USER postgres
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
STOPSIGNAL SIGINT
