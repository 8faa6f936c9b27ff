# plinth as a container job (docs/install.md, "Container"):
#
#   buildah bud --isolation=chroot --layers -t plinth .        # or: docker build -t plinth .
#   docker run --rm plinth run recipes/pipelines/quickstart.yaml
#   docker run --rm -v $PWD:/work -w /work plinth gate runs/ft-lora/report.json --max-forgetting 5%
#
# Stages: deps (the Debian build packages of scripts/debian-packages.txt) -> build (cpu:
# Debian's LibTorch 1.13; cuda: LibTorch 2.x from the PyPI wheel, its CUDA libraries as wheels;
# compile, cpack a .deb) -> runtime (runtime-base: debian:bookworm-slim, the packages of the
# embedded default corpora, tini, the user; then the .deb, which pulls only the runtime
# libraries). Dependencies come before sources, so a source change rebuilds from `COPY . /src`.
#
# Build arguments and targets:
#   --build-arg PLINTH_VARIANT=cpu|cuda   cuda: the host needs only the NVIDIA driver and the
#                                         NVIDIA container toolkit
#   --build-arg PLINTH_TORCH_SPEC=...     the PyPI torch of the cuda variant (torch==2.15.0)
#   --target prebuilt                     the runtime image from prebuilt/plinth_*.deb in the
#                                         build context instead of compiling
#                                         (scripts/container-test --quick)
FROM debian:bookworm-slim AS deps
ENV DEBIAN_FRONTEND=noninteractive
COPY scripts/debian-packages scripts/debian-packages.txt /src/scripts/
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends $(bash /src/scripts/debian-packages build libraries) \
 && rm -rf /var/lib/apt/lists/*

FROM deps AS build
ARG PLINTH_VARIANT=cpu
ARG PLINTH_TORCH_SPEC=torch==2.15.0
# cpu: nothing to add (Debian's LibTorch came with deps). cuda: the torch wheel in /opt/torch,
# with NVIDIA's CUDA toolkit wheels of the same CUDA version, which torch's CMake package needs
# at configure time (plinth compiles no CUDA code). Behind a TLS-intercepting proxy, give pip
# its CA bundle as the build secret `ca` (--secret id=ca,src=/etc/ssl/certs/ca-certificates.crt).
COPY scripts/torch-wheel-cmake-args /src/scripts/
RUN --mount=type=secret,id=ca \
    mkdir -p /opt/torch && : > /opt/torch/cmake-args \
 && if [ "$PLINTH_VARIANT" = cuda ]; then \
      if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
      && apt-get update -q && apt-get install -y -q --no-install-recommends python3-venv \
      && rm -rf /var/lib/apt/lists/* \
      && python3 -m venv /opt/torch \
      && /opt/torch/bin/pip install --no-cache-dir -q "$PLINTH_TORCH_SPEC" \
      && cuda="$(/opt/torch/bin/python -c 'import torch; print(torch.version.cuda)' 2>/dev/null)" \
      && /opt/torch/bin/pip install --no-cache-dir -q "cuda-toolkit[nvcc,crt,cudart,nvrtc,cccl,nvvm]==$cuda.*" \
      && bash /src/scripts/torch-wheel-cmake-args /opt/torch > /opt/torch/cmake-args; \
    elif [ "$PLINTH_VARIANT" != cpu ]; then echo "PLINTH_VARIANT must be cpu or cuda" >&2; exit 2; fi
COPY . /src
# ccache through a cache mount: a rebuild after a source change recompiles only what changed.
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLINTH_BUILD_TESTS=OFF \
          $(cat /opt/torch/cmake-args) \
 && CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime \
    cmake --build /build -j "$(nproc)" \
 && cd /build && cpack -G DEB \
 && mkdir /out && mv /build/plinth_*.deb /out/ \
 && mkdir -p /opt/torch-runtime \
 && if [ -x /opt/torch/bin/python ]; then \
      cd /opt/torch && for lib in lib/python3*/site-packages/torch/lib lib/python3*/site-packages/nvidia/*/lib; do \
        mkdir -p "/opt/torch-runtime/$(dirname "$lib")" && mv "$lib" "/opt/torch-runtime/$lib"; done; \
    fi

FROM debian:bookworm-slim AS runtime-base
ENV DEBIAN_FRONTEND=noninteractive
COPY scripts/debian-packages scripts/debian-packages.txt /tmp/plinth-packages/
# The corpora, the init and the user first: they do not change when plinth does.
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends $(bash /tmp/plinth-packages/debian-packages corpora image) \
 && rm -rf /var/lib/apt/lists/* /tmp/plinth-packages \
 && useradd --create-home --uid 1000 plinth \
 && mkdir -p /work && chown plinth:plinth /work
# Nothing is written into the image: the working directory /work is where shards and runs go
# (mount a folder there to keep them); recipes are read from /work, else from the shipped
# /usr/share/plinth (`plinth recipes`).
WORKDIR /work
# tini forwards `docker stop`'s SIGTERM to plinth, which saves a checkpoint and exits 143;
# the same command started again resumes. As a subreaper it also reaps the stage processes
# `plinth run` starts when it is not PID 1 (`docker run --init`, buildah's chroot isolation).
ENV TINI_SUBREAPER=1
ENTRYPOINT ["/usr/bin/tini", "--", "plinth"]
CMD ["--help"]

FROM runtime-base AS prebuilt
COPY prebuilt/plinth_*.deb /tmp/plinth-deb/
RUN apt-get update -q && apt-get install -y -q --no-install-recommends /tmp/plinth-deb/plinth_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/plinth-deb
USER plinth

FROM runtime-base AS runtime
# The cuda variant's LibTorch and CUDA libraries (nothing for cpu), at the paths the binary's
# and libtorch's RPATHs name; the rest of the build venv (Python, headers, triton, nvcc) stays behind.
COPY --from=build /opt/torch-runtime /opt/torch
COPY --from=build /out/ /tmp/plinth-deb/
RUN apt-get update -q && apt-get install -y -q --no-install-recommends /tmp/plinth-deb/plinth_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/plinth-deb
USER plinth
