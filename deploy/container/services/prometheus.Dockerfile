# Prometheus from Debian bookworm's packages (2.42), for machines that cannot pull
# prom/prometheus; wget for the compose health check, as in the official image.
ARG FIRSTPITCH_BASE_IMAGE
FROM ${FIRSTPITCH_BASE_IMAGE}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends \
      prometheus wget && rm -rf /var/lib/apt/lists/* && mkdir -p /prometheus \
    && chown prometheus:prometheus /prometheus
USER prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
