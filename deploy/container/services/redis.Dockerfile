# Redis from Debian bookworm's packages, for machines that cannot pull redis:7.4-alpine. As
# the official image does without a configuration file: all addresses, protected mode off
# (the compose network is the boundary), data in /data.
ARG FIRSTPITCH_BASE_IMAGE
FROM ${FIRSTPITCH_BASE_IMAGE}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends \
      redis-server && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
# `redis-server ARGS` (the compose command) and bare ARGS both work, as with the official one.
ENTRYPOINT ["/bin/sh", "-c", "[ \"$1\" = redis-server ] && shift; exec redis-server --bind 0.0.0.0 --protected-mode no --dir /data \"$@\"", "redis"]
CMD ["--appendonly", "yes"]
