# deskpulse daemon image (README "Running it for real"):
#   docker build -t deskpulse .
#   docker run -d --name deskpulse --env-file .env -v deskpulse:/data -p 127.0.0.1:9464:9464 deskpulse
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY deskpulse ./deskpulse
COPY cli.py ./
COPY connectors ./connectors
COPY kpi_core ./kpi_core
COPY sync ./sync
COPY sandbox ./sandbox
RUN pip install --no-cache-dir '.[postgres]' && useradd --system --home /data deskpulse \
    && mkdir -p /data && chown deskpulse /data
# The warehouse (SQLite) lives here: a named volume keeps it across `docker rm` and upgrades.
VOLUME /data
USER deskpulse
WORKDIR /data
# A line in the `--env-file` overrides these: .env.example leaves them commented out (its
# DESKPULSE_METRICS_HOST=127.0.0.1 would make the published port reach nothing).
ENV DESKPULSE_DATABASE_URL=sqlite:////data/deskpulse.db \
    DESKPULSE_LOG_FORMAT=json \
    DESKPULSE_METRICS_HOST=0.0.0.0 \
    DESKPULSE_METRICS_PORT=9464
EXPOSE 9464
STOPSIGNAL SIGTERM
# Healthy while /healthz answers 2xx; a 503 (a source failing past its backoff, or stopping), no
# answer within 4 s or a refused connection exits 1 with the reason in `docker inspect`.
HEALTHCHECK --interval=60s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-c", "import os, sys, urllib.request\nurl = 'http://127.0.0.1:' + os.environ.get('DESKPULSE_METRICS_PORT', '9464') + '/healthz'\ntry:\n    with urllib.request.urlopen(url, timeout=4) as answer:\n        sys.exit(0 if 200 <= answer.status < 300 else 1)\nexcept Exception as exc:\n    sys.exit(f'unhealthy: {exc}')"]
ENTRYPOINT ["deskpulse"]
CMD ["daemon"]
