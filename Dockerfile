# syntax=docker/dockerfile:1.7
# One image for both front doors; the command chooses which one runs:
#   docker run IMAGE                                   -> the Slack app (HTTP mode, port 3000)
#   docker run -e HEALTH_PORT=8000 IMAGE mcp_server --transport http --host 0.0.0.0 --port 8000
#   docker run -e DATABASE_URL=postgresql://... IMAGE cli migrate   -> capture-status migrate
# Settings come from the environment (see .env.example); nothing secret is baked in.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml requirements.lock README.md ./
COPY shared ./shared
COPY bot ./bot
COPY mcp_server ./mcp_server
COPY cli ./cli
# Runtime dependencies only, pinned by the same lock file as development and CI.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --constraint requirements.lock . \
    && python -m compileall -q /opt/venv

FROM ${PYTHON_IMAGE} AS runtime
# CA certificates: httpx (LeadSquared) uses certifi, but the MCP SDK's httpx2 and aiohttp
# (Slack) read the system trust store.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --gid 0 --no-create-home --shell /usr/sbin/nologin app \
    && mkdir /data && chown 10001:0 /data && chmod 0770 /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LSQ_LOG_FORMAT=json \
    HEALTH_PORT=3000 \
    DATABASE_URL=sqlite:////data/capture-status.db
# The database of watches: by default a SQLite file in /data, a declared volume, since the
# root file system is read-only in compose and Kubernetes, and a file in a container layer
# would be lost with the container. SQLite serves one container; replicas share PostgreSQL
# (DATABASE_URL=postgresql://...: compose and Kubernetes set it, and run `capture-status
# migrate` once before the front doors start). Mount a named volume on /data to keep a
# single container's watches across restarts: docker run -v capture-status-data:/data ...
VOLUME ["/data"]
WORKDIR /app
USER 10001
EXPOSE 3000 8000
# Liveness: /healthz answers 200 while the process serves HTTP (never asks LeadSquared, Slack
# or Redis). Readiness is /readyz, for load balancers and Kubernetes' readinessProbe.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['HEALTH_PORT'] + '/healthz', timeout=2)"]
ENTRYPOINT ["python", "-m"]
CMD ["bot", "--host", "0.0.0.0", "--port", "3000"]
