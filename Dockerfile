# eddy container image: a Debian 12 build stage, and a slim runtime stage holding the binary,
# the shared libraries it links (Debian packages, from scripts/install-deps --runtime) and a
# default config. See docs/deployment.md.
#
#   docker build -t eddy .
#   docker run --rm -p 8080:8080 -e KAFKA_BOOTSTRAP=broker:9092 -v eddy-state:/var/lib/eddy eddy

# ---- build ---------------------------------------------------------------------------------
FROM debian:bookworm AS build
WORKDIR /src
# The same script developers use; --build-only skips the test tools and the broker's Java/Maven.
# Copied on its own first so the package layer is reused while only sources change.
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDDY_BUILD_TESTS=OFF \
 && cmake --build build \
 && build/eddy --version

# ---- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim
COPY scripts/install-deps /tmp/install-deps
RUN /tmp/install-deps --runtime && rm -rf /var/lib/apt/lists/* /tmp/install-deps

# A fixed, non-root uid/gid, so volume ownership and runAsUser settings can rely on it.
RUN groupadd --gid 10001 eddy \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/eddy --no-create-home \
            --shell /usr/sbin/nologin eddy \
 && mkdir -p /var/lib/eddy /etc/eddy \
 && chown eddy:eddy /var/lib/eddy \
 && chmod 0750 /var/lib/eddy

COPY --from=build /src/build/eddy /usr/local/bin/eddy
# The default config is the pageviews example; mount your own over /etc/eddy/eddy.yaml.
COPY config/examples/pageviews.yaml /etc/eddy/eddy.yaml
# Validate the shipped config with the shipped binary (fails the build if a library is missing).
RUN eddy --version && eddy validate /etc/eddy/eddy.yaml

# Read by the example config's ${VAR:-default} interpolation: listen on every interface and
# keep state in the volume. KAFKA_BOOTSTRAP has no sensible image default: set it at run time
# (the example falls back to 127.0.0.1:9092, i.e. inside the container).
ENV EDDY_HTTP_LISTEN=0.0.0.0:8080 \
    EDDY_STATE_DIR=/var/lib/eddy

# RocksDB state and stored offsets: must persist across restarts (docs/deployment.md).
VOLUME ["/var/lib/eddy"]
WORKDIR /var/lib/eddy
USER 10001:10001
EXPOSE 8080
# No HEALTHCHECK: the slim image has no HTTP client. Probe GET /healthz and /readyz from the
# orchestrator instead (docs/api.md).
# eddy commits state and leaves the consumer group on SIGTERM; give it more than its own 20 s
# shutdown deadline before SIGKILL (docker stop -t 30, compose stop_grace_period: 30s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["eddy"]
CMD ["run", "--config", "/etc/eddy/eddy.yaml"]
