# privproxy container: the proxy on 0.0.0.0:8787 as an unprivileged user.
# Binding a non-loopback address makes the local token mandatory (docs/security.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin privproxy \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/privproxy /var/cache/privproxy

WORKDIR /src
COPY pyproject.toml README.md ./
COPY privproxy ./privproxy
COPY attestation ./attestation
RUN pip install . && rm -rf /src

# Numeric, so `runAsNonRoot` admission checks can verify it without /etc/passwd.
USER 10001:10001
WORKDIR /home/privproxy
# Runs on a read-only root file system (`docker run --read-only`, compose `read_only: true`):
# the only writable paths are these two volumes (Docker mounts anonymous ones unless you mount
# your own); library caches (XDG) are pointed into them too.
ENV PRIVPROXY_STATE_DIR=/var/lib/privproxy \
    PRIVPROXY_CACHE_DIR=/var/cache/privproxy \
    XDG_CACHE_HOME=/var/cache/privproxy/xdg \
    XDG_DATA_HOME=/var/lib/privproxy/xdg
VOLUME ["/var/lib/privproxy", "/var/cache/privproxy"]

EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8787/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["privproxy"]
CMD ["--host", "0.0.0.0", "--port", "8787"]
