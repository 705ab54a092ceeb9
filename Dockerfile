# The eventlens project image used by docker-compose.yml: the collector, the dashboard and the demo services.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY eventlens ./eventlens
COPY instrumentation ./instrumentation
COPY collector ./collector
COPY dashboard ./dashboard
RUN pip install ".[all]" \
    && mkdir -p /etc/eventlens /data/store /data/shop \
    && python -c "from pathlib import Path; from eventlens.demo import deprecations; deprecations.write(Path('/etc/eventlens/deprecations.yaml'))" \
    && useradd --create-home --uid 10001 eventlens \
    && chown -R eventlens /data

ENV EVENTLENS_DEPRECATIONS=/etc/eventlens/deprecations.yaml
USER eventlens
WORKDIR /data
ENTRYPOINT ["eventlens"]
CMD ["--help"]
