# Portcullis gateway image (docs/deploy.md). Multi-stage: production dependencies are installed in `deps`; the
# runtime stage gets only them, the sources and the console, and runs as a non-root user on a read-only root file
# system (nothing is written outside /tmp and mounted volumes when the store is PostgreSQL).
#
#   docker build -t portcullis .
#   docker run --read-only -v ./config.yaml:/etc/portcullis/config.yaml:ro ... portcullis
#
# NODE_IMAGE may name any image with Node >= 22.18 at /usr/local/bin/node (the test on a machine without registry
# access builds it FROM a locally made base; test/deploy/container.test.ts).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: the `node` devDependency (a Node 24 for laptops with an older Node) and the SDKs used by the tests
# stay out; the image runs on the base image's node. --ignore-scripts: no dependency needs an install script.
# (The npm cache stays in this stage; the runtime stage copies node_modules only.)
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORTCULLIS_CONFIG=/etc/portcullis/config.yaml
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY web/console ./web/console
# A container default: listen on all interfaces, PostgreSQL from PGHOST/PGUSER/PGPASSWORD/PGDATABASE, master key
# and first admin key on mounts. Replace it with your own file at the same path (compose, Helm ConfigMap).
COPY deploy/config/portcullis.yaml /etc/portcullis/config.yaml
# uid 1000 is `node` in the official Node images; numeric so Kubernetes can check runAsNonRoot.
USER 1000:1000
EXPOSE 8080
# /healthz answers while the process serves HTTP (liveness); /readyz also checks the store (readiness).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PORTCULLIS_HEALTHCHECK_URL||'http://127.0.0.1:8080/healthz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM drains: stop accepting, report not-ready, let streams finish within the drain grace, sign, exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/bin/portcullis.js"]
CMD ["serve"]
