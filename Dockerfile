# syntax=docker/dockerfile:1
#
# podmeta container image.
#
#   docker build -t podmeta:0.1.0 \
#     --build-arg PODMETA_VERSION=0.1.0 --build-arg PODMETA_REVISION="$(git rev-parse HEAD)" .
#
# Three stages: `build` compiles and bundles (all dependencies), `deps` installs the production dependencies
# only, and the final stage takes just dist/, the production node_modules and package.json from them — nothing
# from the build context itself. test/dockerfile.test.ts checks these properties.
#
# Base image: the current Node.js LTS line on Debian bookworm, pinned to an exact release tag. Pin the digest too
# for reproducible builds (node:24.22.3-bookworm-slim@sha256:<digest>, from
# `docker buildx imagetools inspect node:24.22.3-bookworm-slim`); it is not written here because this tree is
# built without registry access and a digest must never be guessed. Override with --build-arg NODE_IMAGE=….
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# Build metadata is baked into dist/ by `npm run build` from these two variables (unset: the version from
# package.json, revision "unknown" — .git is not in the build context).
ARG PODMETA_VERSION
ARG PODMETA_REVISION
RUN PODMETA_VERSION="${PODMETA_VERSION}" PODMETA_REVISION="${PODMETA_REVISION}" npm run build \
 && test -f dist/main.js && test -f dist/cli.js \
 && chmod 0755 dist/cli.js

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies, without install scripts. dist/ is a self-contained bundle (it runs with no node_modules
# at all), so these only matter for a dependency a future build marks external; dropping this stage saves ~10 MB.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
ARG PODMETA_VERSION
ARG PODMETA_REVISION
LABEL org.opencontainers.image.title="podmeta" \
      org.opencontainers.image.description="A Kubernetes pod's own metadata, served to its sibling containers: JSON, SSE change stream, long-poll, probes." \
      org.opencontainers.image.version="${PODMETA_VERSION}" \
      org.opencontainers.image.revision="${PODMETA_REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/package.json ./package.json
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# `podmeta` on PATH: the bundled CLI carries a `#!/usr/bin/env node` shebang. npm, npx, corepack and yarn are
# removed: nothing in the image installs packages, and they are most of the image's attack surface besides node.
RUN ln -s /app/dist/cli.js /usr/local/bin/podmeta \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg
# A numeric uid/gid (not a name): kubelet's runAsNonRoot can only verify a number. No file needs to be writable:
# the pod runs it with readOnlyRootFilesystem.
USER 65532:65532
# 9978: /livez, /readyz, /healthz, /metrics. The metadata API (9977) and the proxy (8001) are loopback-only.
EXPOSE 9978
# Exec form: node is PID 1 and receives SIGTERM itself. No tini/--init: the agent installs its own SIGTERM/SIGINT
# handlers (PID 1 gets no default signal actions, so handlers are required — and present), and it starts no child
# processes, so there are no zombies to reap.
# No HEALTHCHECK: Kubernetes ignores it and probes /livez and /readyz on 9978; under plain Docker use
# `docker exec <container> podmeta check`.
ENTRYPOINT ["node", "dist/main.js"]
