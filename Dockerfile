# infmem-server image: a Debian bookworm builder that runs the project's own install script and
# build, and a slim runtime stage with the runtime libraries, the two binaries and models/.
#
#   docker build -t infmem .            (or: buildah bud --format docker -t infmem .)
#   docker run -p 50051:50051 -p 9464:9464 -p 8080:8080 -v infmem-sessions:/var/lib/infmem/sessions infmem
#
# CUDA: LibTorch with CUDA is not a Debian package. Build a CUDA image by unpacking a
# cxx11-ABI LibTorch CUDA archive (download.pytorch.org) in the builder, pointing CMake at it
# (-DCMAKE_PREFIX_PATH=/opt/libtorch) and copying its lib/ into a runtime stage based on an
# nvidia/cuda runtime image, then run with --device=cuda (docs/operations.md). It cannot be
# built in this project's sandbox, which reaches no registry.
ARG BASE=debian:bookworm

FROM ${BASE} AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake --preset release -DINFMEM_BUILD_TESTS=OFF >/dev/null \
 && cmake --build build/release -j"$(nproc)" --target infmem-server infmem infmem_spm \
 && mkdir -p /out/bin /out/lib/infmem \
 && cp build/release/server/infmem-server build/release/client/infmem /out/bin/ \
 && cp build/release/lib/libinfmem_spm.so /out/lib/infmem/

FROM ${BASE} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libtorch1.13 libgrpc++1.51 libprotobuf32 libabsl20220623 libprometheus-cpp-core1.0 \
      libprometheus-cpp-pull1.0 libsentencepiece0 libgoogle-glog0v6 libblis4-openmp libpq5 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/infmem infmem \
 && mkdir -p /var/lib/infmem/sessions && chown -R infmem /var/lib/infmem
COPY --from=build /out/ /opt/infmem/
COPY models/ /opt/infmem/models/
USER infmem
WORKDIR /var/lib/infmem
VOLUME ["/var/lib/infmem/sessions"]
EXPOSE 50051 9464 8080
# The server is PID 1: it handles SIGTERM itself (drain, journal, snapshot, exit 0).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/opt/infmem/bin/infmem", "health", "--timeout=3"]
ENTRYPOINT ["/opt/infmem/bin/infmem-server", "--host=0.0.0.0", "--http_port=8080", \
            "--model_dir=/opt/infmem/models/brown-lm", "--session_dir=/var/lib/infmem/sessions"]
