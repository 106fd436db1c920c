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
USER deskpulse
WORKDIR /data
ENV DESKPULSE_DATABASE_URL=sqlite:////data/deskpulse.db \
    DESKPULSE_LOG_FORMAT=json \
    DESKPULSE_METRICS_HOST=0.0.0.0 \
    DESKPULSE_METRICS_PORT=9464
EXPOSE 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"
ENTRYPOINT ["deskpulse"]
CMD ["daemon"]
