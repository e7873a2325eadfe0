# syntax=docker/dockerfile:1
# One image for every backstream process. The entry point is the CLI; the arguments choose what
# runs: `run chunk-worker` (the default), `run verifier`, `run archiver`, `run producer`,
# `backup <path> --source NAME`, `init`, `topics ensure`, `restore …` — any command of the CLI.
#   docker build -t backstream:0.1.0 .
#   docker run --rm backstream:0.1.0 --help
#   docker run --rm --env-file stack.env backstream:0.1.0 run verifier
# infra/docker/rehearse.sh (make image-rehearse) replays the npm steps and COPY lines of this
# file without Docker; keep npm steps on RUN lines of their own so it can find them.

# Node 24: LTS until April 2028 (Node 20 is past its end of life, 22 ends April 2027).
# Pin a digest for reproducible builds: --build-arg NODE_IMAGE=node:24.x.y-bookworm-slim@sha256:…
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: compile TypeScript; zstd-napi's native addon needs a C++ toolchain -------------
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
# node-gyp takes the headers of the image's own node instead of downloading them.
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY libs ./libs
COPY services ./services
RUN npm run build
# Production dependencies only; the compiled addon stays.
RUN npm prune --omit=dev --no-audit --no-fund

# --- runtime --------------------------------------------------------------------------
FROM ${NODE_IMAGE}
# tini as PID 1: node as PID 1 ignores SIGTERM unless it installed a handler, which the
# services do and one-shot commands (backup, init) do not; tini forwards it.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/libs ./dist/libs
COPY --from=build /app/dist/services ./dist/services
COPY bin ./bin
# The official image's `node` user, by number so that runAsNonRoot can verify it.
USER 1000:1000
# /healthz, /readyz, /metrics of `backstream run …` (BACKSTREAM_HEALTH_PORT).
EXPOSE 9400
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/backstream.js"]
CMD ["run", "chunk-worker"]
