# Quantum Trader backend. Build: docker build -t quantum-trader .   Run: docker compose up (compose.yaml).
# Two stages so compilers, pip caches and the source tree stay out of the image that runs.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/quantum-trader/.venv
COPY pyproject.toml README.md ./
COPY src ./src
# The runtime dependencies and PostgreSQL's driver; never the dev extra (test tools, linters).
RUN /opt/quantum-trader/.venv/bin/pip install ".[postgres]"

FROM python:3.11-slim
ENV PATH=/opt/quantum-trader/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    QT_API_HOST=0.0.0.0 \
    QT_DB_URL=sqlite:////var/lib/quantum-trader/quantum_trader.db
RUN groupadd --system --gid 10001 quantum-trader \
    && useradd --system --uid 10001 --gid quantum-trader --home-dir /var/lib/quantum-trader --create-home \
       --shell /usr/sbin/nologin quantum-trader
COPY --from=build /opt/quantum-trader/.venv /opt/quantum-trader/.venv
USER quantum-trader
WORKDIR /var/lib/quantum-trader
VOLUME ["/var/lib/quantum-trader"]
EXPOSE 8000
# slim has no curl: ask /health with the standard library. Non-200 (503 = unhealthy) or no answer fails.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('QT_API_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4).status == 200 else 1)"]
# SIGTERM: protection orders stay on the exchange, the journal is flushed (compose waits 30 s).
STOPSIGNAL SIGTERM
CMD ["quantum-trader", "run", "--host", "0.0.0.0"]
