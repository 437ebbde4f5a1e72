# chat-gateway: slim Python, non-root, `chat-gateway serve` as the entrypoint.
#   docker build -t chat-gateway .
#   docker run -p 8080:8080 --env-file .env --read-only --tmpfs /tmp chat-gateway
#   (hadolint-clean: tests/test_deploy.py; see also compose.yaml and deploy/kubernetes/)
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md routes.yaml ./
COPY mappings ./mappings
COPY gateway ./gateway
COPY docs/problems.md ./docs/problems.md
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=8080
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --no-create-home gateway
WORKDIR /etc/chat-gateway
COPY routes.yaml ./
COPY mappings ./mappings
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GATEWAY_PORT', '8080') + '/healthz', timeout=2)"]
ENTRYPOINT ["chat-gateway", "serve"]
CMD ["--config", "/etc/chat-gateway/routes.yaml"]
