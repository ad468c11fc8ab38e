# syntax=docker/dockerfile:1
# crmflow: one image for the HTTP API (the default command) and the Temporal worker.
#   docker build -t crmflow .
#   docker run crmflow                    -> crmflow api (port 8000)
#   docker run crmflow crmflow worker     -> a worker
#   docker run crmflow crmflow migrate    -> CRM database to the newest schema
# Settings are CRMFLOW_* environment variables (README "Configuration").

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv in /opt/crmflow with crmflow and its dependencies -------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/crmflow/bin:$PATH
RUN python -m venv /opt/crmflow

WORKDIR /src
# Dependencies first (from pyproject.toml alone), so a code change does not refetch them.
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then crmflow itself (no dev extra), as a regular, non-editable install.
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps . \
    && crmflow --help > /dev/null

# --- runtime -----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="crmflow" \
      org.opencontainers.image.description="crmflow API and Temporal worker"

# PDF documents: WeasyPrint lays text out with Pango, in the DejaVu fonts.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
        fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 crmflow \
    && useradd --system --uid 10001 --gid crmflow --home-dir /home/crmflow --create-home \
        --shell /usr/sbin/nologin crmflow

COPY --from=build /opt/crmflow /opt/crmflow

ENV PATH=/opt/crmflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CRMFLOW_ENVIRONMENT=production \
    CRMFLOW_API_HOST=0.0.0.0 \
    CRMFLOW_API_PORT=8000 \
    CRMFLOW_LOG_FORMAT=json \
    CRMFLOW_DATA_DIR=/home/crmflow/data

WORKDIR /home/crmflow
USER 10001:10001

EXPOSE 8000
# No HEALTHCHECK here: the worker serves no HTTP. The API's is in docker-compose.yml
# (GET /health via python -c, as the slim image has no curl).
CMD ["crmflow", "api"]
