# The one Accord image: the `accord` binary, which runs any service (`accord gateway`, `accord indexer`, …) or all of
# them (`accord up`). Multi-stage: a Rust toolchain builds a release binary, a slim Debian runs it as a non-root user.
#
#   docker build -t accord:latest .
#   docker run --rm -p 8080:8080 accord:latest              # `accord up`: every service, embedded backends

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
# librdkafka is built from source by its configure script (C toolchain, make), with OpenSSL for Kafka TLS and
# SASL/SCRAM built from source too and linked statically (perl for OpenSSL's configure; decision 0029); aws-lc
# (rustls' crypto provider for `opensearch+https://`) by cc, with cmake as its fallback.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake perl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin accord \
    && install -m 0755 target/release/accord /usr/local/bin/accord

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to OpenSearch and Kafka in production; curl: the container healthchecks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/accord --shell /usr/sbin/nologin accord \
    && mkdir -p /var/lib/accord/directory \
    && chown -R accord:accord /var/lib/accord
COPY --from=build /usr/local/bin/accord /usr/local/bin/accord
USER accord
WORKDIR /var/lib/accord
ENV ACCORD_LISTEN=0.0.0.0:8080 \
    ACCORD_DATA_DIR=/var/lib/accord \
    ACCORD_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/accord"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 \
    CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["accord"]
CMD ["up"]
