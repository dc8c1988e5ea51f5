# privproxy container: the proxy on 0.0.0.0:8787 as an unprivileged user.
# Binding a non-loopback address makes the local token mandatory (docs/security.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin privproxy

WORKDIR /src
COPY pyproject.toml README.md ./
COPY privproxy ./privproxy
COPY attestation ./attestation
RUN pip install . && rm -rf /src

USER privproxy
WORKDIR /home/privproxy
ENV PRIVPROXY_STATE_DIR=/home/privproxy/state \
    PRIVPROXY_CACHE_DIR=/home/privproxy/cache

EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8787/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["privproxy"]
CMD ["--host", "0.0.0.0", "--port", "8787"]
