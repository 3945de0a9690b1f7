# pdgraph: one image, three processes (web, worker, clock) as in the Procfile. Each runs
# its Procfile line through bin/procfile-run; configuration (REDIS_URL included) comes from
# the environment, never from a command line.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LOCAL_GRAPH_PATH=/data/pdgraph.sqlite3

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY common ./common
COPY web ./web
COPY worker ./worker
COPY sim ./sim
RUN pip install . && useradd --system --uid 10001 pdgraph && mkdir /data && chown pdgraph /data
COPY Procfile ./
COPY bin ./bin

USER pdgraph
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["/app/bin/procfile-run"]
CMD ["web"]
