# kube-recycler. One stage installs the production dependencies, one compiles
# src/ to plain JavaScript (dist/: Node's runtime type stripping would cost
# ~22 MB of RSS for the life of the process), the final stage holds the
# dependencies, the build, git (the service runs `git ls-remote` to find the
# production head) and tini.
#
#   docker build -t kube-recycler .
#   docker run --rm -p 8080:8080 kube-recycler            # the example config, dry-run
#
# In production pin the base by digest (NODE_IMAGE=node:24-bookworm-slim@sha256:…)
# and rebuild when it moves.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- production dependencies -------------------------------------------------
# Only the manifests first, so this layer is reused until they change.
# --omit=dev leaves out tap, typescript and the `node` npm package (the
# devDependency that gives developers Node 24): the base image's Node 24 runs
# the code. No production dependency has an install script.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- build -------------------------------------------------------------------
# All dependencies (typescript is a devDependency); --ignore-scripts keeps the
# `node` package from fetching a second Node: the base image's compiles.
# Nothing of this stage but dist/ reaches the image.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime -----------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# git for `git ls-remote` over http(s), ca-certificates for TLS remotes, tini as
# PID 1 (see ENTRYPOINT). Debian package versions follow the pinned base image.
# npm, npx and corepack are not needed at run time: removed.
# Pinned Debian package versions break the build at every point release of
# the base image (DL3008 / ER0012): the base image's digest is the pin.
# hadolint ignore=DL3008
# linter ignore=ER0012
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack

WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY config ./config
COPY --from=build /app/dist ./dist

# A numeric user, so `runAsNonRoot` can verify it without a passwd lookup.
# The files above stay owned by root: the service cannot change its own code.
USER 10001:10001
EXPOSE 8080

# For `docker run`; Kubernetes uses the Deployment's /healthz and /readyz probes.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# tini is PID 1: it forwards SIGTERM/SIGINT to node (which shuts down with
# close-with-grace and exits 0) and reaps zombies. Node as PID 1 would handle
# SIGTERM itself, but it only reaps the children it spawned: a `git` killed on
# timeout leaves its `git-remote-http` helper behind, re-parented to PID 1.
ENTRYPOINT ["/usr/bin/tini", "--"]
# --max-semi-space-size=1 (MiB): V8's young generation stays small, ~18 MB
# less RSS at rest and under load for ~6 % more CPU per webhook request
# (docs/benchmarks.md); the same flags as `npm start`.
CMD ["node", "--max-semi-space-size=1", "dist/cli.js", "serve"]
