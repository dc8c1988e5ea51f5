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
# Runs on a read-only root file system. The two writable paths exist in the image, owned by
# this user; no VOLUME is declared, so a run does not leave an anonymous volume behind. Mount
# what you want kept: a named volume for the state (generated token, audit log) and a tmpfs for
# the cache (attestation material, refetched at start):
#   docker run --read-only --tmpfs /tmp \
#     --tmpfs /var/cache/privproxy:uid=10001,gid=10001,mode=0700 \
#     -v privproxy-state:/var/lib/privproxy -p 127.0.0.1:8787:8787 -e PPQ_API_KEY privproxy
# Library caches (XDG) are pointed into them too.
ENV PRIVPROXY_STATE_DIR=/var/lib/privproxy \
    PRIVPROXY_CACHE_DIR=/var/cache/privproxy \
    XDG_CACHE_HOME=/var/cache/privproxy/xdg \
    XDG_DATA_HOME=/var/lib/privproxy/xdg

EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8787/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["privproxy"]
CMD ["--host", "0.0.0.0", "--port", "8787"]
