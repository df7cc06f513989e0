# The landdb service: `landdb serve` (granian) serving the REST API and WFS.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY landdb ./landdb
COPY api ./api
COPY migrations ./migrations
COPY sample_parcels ./sample_parcels
RUN pip install --no-cache-dir -e . && useradd --system landdb
USER landdb
EXPOSE 8000
CMD ["landdb", "serve", "--host", "0.0.0.0", "--port", "8000"]
