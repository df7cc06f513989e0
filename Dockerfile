# The landdb service: `landdb serve` (granian) serving the REST API and WFS, as user landdb.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/landdb-metrics
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY landdb ./landdb
COPY api ./api
COPY migrations ./migrations
COPY sample_parcels ./sample_parcels
RUN pip install --no-cache-dir -e . && useradd --system landdb
USER landdb
EXPOSE 8000
# The worker processes share their metrics through PROMETHEUS_MULTIPROC_DIR, which must start
# empty (old files would add a previous run's counts).
CMD ["sh", "-c", "rm -rf \"$PROMETHEUS_MULTIPROC_DIR\" && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec landdb serve --host 0.0.0.0 --port 8000"]
