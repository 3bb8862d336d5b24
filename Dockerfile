# syntax=docker/dockerfile:1
# The storevision image the Helm chart runs (charts/storevision: image.repository, workingDir /app,
# user 1000). One image for the hub, the orchestrator and the edge: each starts as
# `node packages/cli/bin/storevision.js <hub|orchestrator|edge>` (TypeScript through tsx, no build
# step). Redis runs beside the edge as its own container (the chart's redis image).
#
#   CPU:  docker build -t storevision:0.1.0 .
#   GPU:  docker build -t storevision:0.1.0-gpu \
#           --build-arg BASE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 --build-arg ORT_INSTALL=cuda12 .
#
# ORT_INSTALL is onnxruntime-node's install flag: `skip` leaves out the CUDA execution provider's
# libraries (a CPU image), `cuda12` fetches them for a GPU image (the edge then picks CUDA from its
# execution-provider registry where the node has a GPU, CPU otherwise). onnxruntime's CUDA 12
# provider needs cuDNN 9, hence a `-cudnn` CUDA 12.4+ base; the GPU node's driver must support that
# CUDA (12.4: driver 550 or later, or NVIDIA's forward-compatibility package).

ARG NODE_IMAGE=node:20-bookworm-slim
ARG BASE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
ARG ORT_INSTALL=skip
# better-sqlite3 falls back to compiling when no prebuilt binary matches the platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Manifests first: the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json .npmrc ./
COPY packages/analytics/package.json packages/analytics/
COPY packages/cli/package.json packages/cli/
COPY packages/contracts/package.json packages/contracts/
COPY packages/detector/package.json packages/detector/
COPY models/scenes/package.json models/scenes/
COPY services/inference-edge/package.json services/inference-edge/
COPY services/model-hub/package.json services/model-hub/
COPY services/orchestrator/package.json services/orchestrator/
RUN ONNXRUNTIME_NODE_INSTALL=${ORT_INSTALL} npm ci --omit=dev --onnxruntime-node-install=${ORT_INSTALL}

FROM ${NODE_IMAGE} AS node

FROM ${BASE}
# Node from the official image (the GPU base has none); ffmpeg pulls RTSP/HTTP cameras; tini reaps.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && (getent passwd 1000 >/dev/null || useradd --uid 1000 --create-home --shell /usr/sbin/nologin storevision)
WORKDIR /app
# The manifests and every node_modules (npm nests some under the workspaces), then the sources.
COPY --from=deps /app ./
COPY . .
ENV NODE_ENV=production
USER 1000:1000
# `docker run <image> hub|orchestrator|edge [options]`. The chart names the same command in full
# (tini, node, the CLI, the service): a Kubernetes `command` replaces the ENTRYPOINT, and tini as
# PID 1 reaps what the edge leaves behind (ffmpeg of pulled cameras) and forwards signals.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "packages/cli/bin/storevision.js"]
CMD ["--help"]
