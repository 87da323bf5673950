# syntax=docker/dockerfile:1
#
# OpenDCR server image. Node.js 24 runs the TypeScript sources directly (type stripping), so
# there is no build step: the image holds src/, bin/ and the production dependencies only.
#
#   docker build -t opendcr:0.1.0 .
#   docker run --rm -p 8443:8443 \
#     -v /srv/opendcr/opendcr.toml:/etc/opendcr/opendcr.toml:ro \
#     -v /srv/opendcr/tls:/etc/opendcr/tls:ro \
#     -e OPENDCR_ADMIN_PASSWORD -e OPENDCR_DATABASE_URL opendcr:0.1.0
#
# Nothing secret is built in: the configuration, the TLS certificate and key are mounted, and
# passwords and URLs come from the environment (OPENDCR_ADMIN_PASSWORD, OPENDCR_DATABASE_URL,
# OPENDCR_REDIS_URL, OPENDCR_METRICS_TOKEN). See README.md, "Packaging: Docker, compose, Helm".
# For production builds, pin both FROM lines to a digest (node:24-bookworm-slim@sha256:…).

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies exactly as locked; no install scripts run (none is needed at run time).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json LICENSE ./
COPY bin ./bin
COPY src ./src
COPY deploy/docker/healthcheck.mjs ./deploy/docker/healthcheck.mjs
# The data folder ([server] data_dir in the shipped configurations) belongs to the runtime user;
# the application files stay root-owned and read-only to it.
RUN mkdir -p /etc/opendcr /var/lib/opendcr && chown 1000:1000 /var/lib/opendcr
# The image's "node" user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8443
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "deploy/docker/healthcheck.mjs", "https://127.0.0.1:8443/health/live"]
STOPSIGNAL SIGTERM
# What `npm start` runs, with the image's Node 24 instead of the node devDependency.
CMD ["node", "--max-semi-space-size=8", "src/main.ts", "--config", "/etc/opendcr/opendcr.toml"]
