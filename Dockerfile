# leukemia-cds container: gunicorn on 0.0.0.0:8080 as a non-root user.
# Build stage installs the wheel (with the card catalogue and the FHIR profiles inside it) into
# a virtual environment; the final stage copies only that environment (no compilers, no tests).
# The base image is pinned to a patch release and Debian release, so a rebuild next month gets
# the same Python; update it deliberately. A site that pins by digest passes
# --build-arg PYTHON_IMAGE=python:3.11.15-slim-bookworm@sha256:<digest> (deploy/README.md).
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY service ./service
COPY cards ./cards
COPY fhir_profiles ./fhir_profiles
# files as the checkout had them; a hardened host's umask 077 must not make them unreadable
RUN chmod -R a+rX /src && pip install .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEUKEMIA_CDS_DATA_DIR=/var/lib/leukemia-cds \
    LEUKEMIA_CDS_SANDBOX=off
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin cds \
    && mkdir -p /var/lib/leukemia-cds && chown cds /var/lib/leukemia-cds
COPY --from=build /opt/venv /opt/venv
USER cds
WORKDIR /app
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
CMD ["leukemia-cds", "serve", "--host", "0.0.0.0", "--port", "8080"]
