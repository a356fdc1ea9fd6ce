# syntax=docker/dockerfile:1
# mnp: one image for both `mnp webhook` and `mnp enforcer` (see config/).

# --- builder: wheels for mnp and every dependency --------------------------------
# The product only: the sandbox (lab/, the mnp-lab distribution) stays out of the context.
FROM python:3.11-slim AS builder
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mnp ./mnp
COPY webhook ./webhook
COPY enforcer ./enforcer
COPY kubewatch ./kubewatch
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime: no compiler, no build files, non-root --------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --gid 65532 mnp \
 && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin mnp
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels mnp
# Numeric, so the kubelet can check runAsNonRoot without resolving the name.
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["mnp"]
CMD ["--help"]
