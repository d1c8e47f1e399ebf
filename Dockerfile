# syntax=docker/dockerfile:1
# One image for all three rooms: `operator`, `relay` and `probe` (see src/cli.ts).
#
#   docker build -t smtp-relay-operator:dev .
#   docker run --rm smtp-relay-operator:dev probe --help
#
# Stages:
#   build     full dev toolchain, compiles TypeScript to dist/
#   prod-deps production dependencies only (npm ci --omit=dev), no compilers, no test tools
#   runtime   distroless Node 24 + dist/ + prod node_modules + package.json

# Base images are pinned by digest (tag kept for people; the digest is what is pulled),
# so a re-pushed tag cannot change what we build on. Override with --build-arg to
# update; Renovate/Dependabot's docker ecosystem can bump both.
# The test cluster (npm run image:build, scripts/image/build.mjs) cannot pull public
# images, so it passes local stand-ins built from Debian and npm-registry parts:
#   --build-arg NODE_BUILD_IMAGE=localhost/sro-build-base:bookworm-node24
#   --build-arg NODE_RUNTIME_IMAGE=localhost/sro-runtime-base:nodejs24
# and runs every step below unchanged (how the stand-ins differ: docs/test-cluster-images.md).
# The defaults stay the public images: that is what users and releases build on.
#   node:24-bookworm-slim = 24.18.0, multi-arch index (docker-library/repo-info, 2026-07-14)
ARG NODE_BUILD_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d
# Runtime base: distroless rather than node:24-slim, because the relay is an
# internet-facing SMTP server. Distroless has no shell, no package manager and
# no npm/corepack, so a compromised relay has far fewer tools to work with and
# the image carries far fewer CVEs to triage. It is the same Debian 12 (glibc)
# as the build stage, so anything compiled there runs here. The `nonroot` tag's
# user is 65532; we also set USER numerically below so Kubernetes'
# runAsNonRoot can verify it without an /etc/passwd lookup.
#   distroless nodejs24-debian12:nonroot, multi-arch index: verify before a release with
#   `crane digest gcr.io/distroless/nodejs24-debian12:nonroot` (see docs/security.md).
ARG NODE_RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot@sha256:14d42e2511532589a7c7e01a753667a74fcc96266e137e8125006b87b0c32d0a

FROM ${NODE_BUILD_IMAGE} AS build
WORKDIR /src
# Lock file first so the dependency layer is cached across source edits.
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency's install script runs with the build's
# privileges (none is needed to compile: TypeScript is plain JavaScript).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_BUILD_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no production dependency needs an install script, and
# not running them keeps the build reproducible and supply-chain quieter.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_RUNTIME_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="smtp-relay-operator" \
      org.opencontainers.image.description="Kubernetes operator for secure SMTP relays that reports the TLS each relay actually serves" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot"
ENV NODE_ENV=production
WORKDIR /app
# Everything is owned by root and only readable by the runtime user: the
# process cannot modify its own code, and the pod runs with
# readOnlyRootFilesystem: true. The only writable paths are the emptyDir
# volumes the pods mount (/tmp, and the relay's spool).
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
USER 65532:65532
# Documentation only; the operator uses 8080 (metrics) and 8081 (health),
# relays 587/465 (+2525 relay listener) and their own metrics port.
EXPOSE 8080 8081 587 465
# Exec form: node is PID 1 and receives SIGTERM directly (our code handles it
# and drains). Distroless has no shell to wrap it, and node is at /nodejs/bin.
ENTRYPOINT ["/nodejs/bin/node", "dist/cli.js"]
CMD ["--help"]
