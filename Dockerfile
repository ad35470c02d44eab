# syntax=docker/dockerfile:1
# Wiber's two images, from one build of the workspace:
#
#   docker build --target wiber    -t ghcr.io/wiber-io/wiber:0.1.0          .   # wiber-api + wiber-consumer
#   docker build --target operator -t ghcr.io/wiber-io/wiber-operator:0.1.0 .   # wiber-operator
#
# The names and the tag (the workspace version) are the defaults of the operator's WiberCluster
# `spec.image` (operator/src/crd/mod.rs DEFAULT_IMAGE) and of the charts in charts/. The machine this
# project's CI runs on has no Docker engine, so it is not built there: `make images` (dev/images.sh)
# builds the same two images without a daemon, and CI tests those. Both are equivalent: the same
# binaries, entrypoints, user 65532, ports and labels; this file takes glibc, OpenSSL and the CA
# bundle from distroless, the script from the build machine's Debian packages.

FROM rust:1.95-bookworm AS builder
# rdkafka builds its bundled librdkafka with configure + make (the image has gcc, make, perl and
# pkg-config). LIBZ_SYS_STATIC links zlib statically, so the final image needs no libz. rdkafka's
# `ssl` feature (Kafka TLS and SASL/SCRAM) links the system OpenSSL: libssl-dev is already in this
# buildpack-based image.
ENV LIBZ_SYS_STATIC=1 CARGO_TERM_COLOR=never
WORKDIR /src
COPY . .
# `cargo auditable` records the crates and their versions in each binary, for scanners (as make images).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo install --locked cargo-auditable@0.7.7 \
 && cargo auditable build --release --locked -p wiber-api -p wiber-consumer -p wiber-operator \
 && mkdir /out \
 && cp target/release/wiber-api target/release/wiber-consumer target/release/wiber-operator /out/

# distroless cc: glibc, libgcc and libstdc++, CA certificates, and libssl3 (from distroless base), the
# OpenSSL the binaries link, with their dpkg status files for scanners. No shell, no package
# manager. `nonroot` is uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS base
ARG VERSION=0.1.0
LABEL org.opencontainers.image.version=$VERSION \
      org.opencontainers.image.source=https://github.com/wiber-io/wiber \
      org.opencontainers.image.url=https://github.com/wiber-io/wiber \
      org.opencontainers.image.licenses=Apache-2.0 \
      org.opencontainers.image.vendor=Wiber
COPY LICENSE /usr/share/doc/wiber/LICENSE
WORKDIR /home/nonroot

FROM base AS wiber
LABEL org.opencontainers.image.title=wiber \
      org.opencontainers.image.description="Wiber API (entrypoint) and Kafka-to-MongoDB consumer"
COPY --from=builder /out/wiber-api /out/wiber-consumer /usr/local/bin/
USER 65532:65532
# api 8000 (admin: health and metrics 8002), consumer 8001 (health and metrics). The operator sets the command: wiber-api or wiber-consumer.
EXPOSE 8000 8001 8002
ENTRYPOINT ["/usr/local/bin/wiber-api"]

FROM base AS operator
LABEL org.opencontainers.image.title=wiber-operator \
      org.opencontainers.image.description="Wiber operator: reconciles WiberCluster resources"
COPY --from=builder /out/wiber-operator /usr/local/bin/
USER 65532:65532
# Health and metrics.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/wiber-operator"]
