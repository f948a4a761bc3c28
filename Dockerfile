# syntax=docker/dockerfile:1
# Headroom's container images, two targets (README "Deploy"):
#
#   docker build --target cpu  -t headroom:0.1.0-cpu  .  # CPU only, Debian 12
#                                                        # (the default target)
#   docker build --target cuda -t headroom:0.1.0-cuda .  # NVIDIA GPUs: CUDA 13.0
#                                                        # on Ubuntu 24.04
#
# Each target is a build stage (compilers, the -dev packages of
# scripts/setup-deps.sh, a Release build without tests or benchmarks by
# scripts/container-build.sh) and a runtime stage with only the shared
# libraries the programs load (their packages found by
# scripts/container-runtime-packages.sh in the build stage), the programs in
# /opt/headroom/bin, the embedded default model at
# /opt/headroom/models/headroom-tiny and /etc/headroom/config.yaml
# (deploy/config/container.yaml; container-cuda.yaml for cuda). It runs as
# the non-root user headroom (uid 10001), serves gRPC on 50051, the
# OpenAI-compatible API on 8000 and metrics on 9464 (/metrics, /healthz,
# /readyz), and reads your models from the volume /models:
#
#   docker run --rm -p 50051:50051 -p 8000:8000 -p 9464:9464 headroom:0.1.0-cpu
#   docker run --rm --gpus all -p 50051:50051 -v $PWD/models:/models:ro \
#     headroom:0.1.0-cuda --model /models/llama --compression-method none \
#     --projections ""
#
# Arguments after the image name are headroom-server flags that override the
# config (a second --config replaces the file).

ARG CUDA_VERSION=13.0.0
ARG UBUNTU_VERSION=24.04
# scripts/setup-deps.sh's packages that the build needs (tests/deploy checks
# that none is missing); the same names on Debian 12 and Ubuntu 24.04.
ARG BUILD_PACKAGES="build-essential cmake ninja-build ccache pkg-config \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
  libabsl-dev libyaml-cpp-dev libopenblas-dev liblapack-dev liblapacke-dev \
  libsentencepiece-dev sentencepiece nlohmann-json3-dev libboost-dev \
  libpcre2-dev libssl-dev libicu-dev"

# --- CUDA: build (nvidia/cuda's devel image: nvcc, cuBLAS) -------------------
FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION} AS build-cuda
ARG BUILD_PACKAGES
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ${BUILD_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY runtime runtime
COPY compress compress
COPY proto proto
COPY server server
COPY tools tools
COPY scripts/build-env.sh scripts/container-build.sh \
     scripts/container-runtime-packages.sh scripts/
# BUILD_TYPE: CMake's (default Release); CCACHE_DIR: a compiler cache mounted
# by the builder (scripts/container-check.sh), else the cache mount below.
ARG BUILD_TYPE
ARG CCACHE_DIR
RUN --mount=type=cache,id=headroom-ccache-cuda,target=/root/.cache/ccache \
    bash scripts/container-build.sh ON /opt/headroom

# --- CUDA: runtime -----------------------------------------------------------
# The runtime image has the CUDA runtime and cuBLAS; the driver comes from
# the host (docker run --gpus, or the NVIDIA device plugin on Kubernetes).
FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION} AS cuda
COPY --from=build-cuda /opt/headroom/runtime-packages.txt /tmp/
COPY scripts/container-runtime-setup.sh /tmp/
RUN bash /tmp/container-runtime-setup.sh /tmp/runtime-packages.txt \
 && rm /tmp/container-runtime-setup.sh /tmp/runtime-packages.txt
COPY --from=build-cuda /opt/headroom/bin /opt/headroom/bin
COPY models/headroom-tiny /opt/headroom/models/headroom-tiny
COPY deploy/config/container-cuda.yaml /etc/headroom/config.yaml
ENV PATH=/opt/headroom/bin:$PATH \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
WORKDIR /var/lib/headroom
VOLUME /models
EXPOSE 50051 8000 9464
# grpc.health.v1 through headroom-client (in the image already; no curl to
# add): the protocol and port that clients and Kubernetes' grpc probes use,
# SERVING only once the model is loaded and until SIGTERM starts the drain.
# The start period allows for calibrating a mounted model on load.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
  CMD ["headroom-client", "health", "--addr", "127.0.0.1:50051", "--timeout", "3"]
ENTRYPOINT ["headroom-server", "--config", "/etc/headroom/config.yaml"]

# --- CPU: build --------------------------------------------------------------
FROM debian:12 AS build-cpu
ARG BUILD_PACKAGES
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ${BUILD_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY runtime runtime
COPY compress compress
COPY proto proto
COPY server server
COPY tools tools
COPY scripts/build-env.sh scripts/container-build.sh \
     scripts/container-runtime-packages.sh scripts/
# BUILD_TYPE: CMake's (default Release); CCACHE_DIR: a compiler cache mounted
# by the builder (scripts/container-check.sh), else the cache mount below.
ARG BUILD_TYPE
ARG CCACHE_DIR
RUN --mount=type=cache,id=headroom-ccache-cpu,target=/root/.cache/ccache \
    bash scripts/container-build.sh OFF /opt/headroom

# --- CPU: runtime (the default target: the last stage) -----------------------
FROM debian:12-slim AS cpu
COPY --from=build-cpu /opt/headroom/runtime-packages.txt /tmp/
COPY scripts/container-runtime-setup.sh /tmp/
RUN bash /tmp/container-runtime-setup.sh /tmp/runtime-packages.txt \
 && rm /tmp/container-runtime-setup.sh /tmp/runtime-packages.txt
COPY --from=build-cpu /opt/headroom/bin /opt/headroom/bin
COPY models/headroom-tiny /opt/headroom/models/headroom-tiny
COPY deploy/config/container.yaml /etc/headroom/config.yaml
ENV PATH=/opt/headroom/bin:$PATH
USER 10001:10001
WORKDIR /var/lib/headroom
VOLUME /models
EXPOSE 50051 8000 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
  CMD ["headroom-client", "health", "--addr", "127.0.0.1:50051", "--timeout", "3"]
ENTRYPOINT ["headroom-server", "--config", "/etc/headroom/config.yaml"]
