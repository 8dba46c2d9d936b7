# The mlgate GitHub Action image.
#
# The base image is pinned by digest (python:3.11-slim, the multi-platform index). To refresh it:
#   docker buildx imagetools inspect python:3.11-slim   # the "Digest:" line
# and replace both FROM lines (Dependabot's "docker" ecosystem can do this automatically).
#
# No USER: GitHub runs Docker actions as root and documents that a USER instruction breaks access
# to GITHUB_WORKSPACE; entrypoint.py hands the report files back to the workspace's owner instead.
# No WORKDIR: the runner mounts the workspace and makes it the working directory.

FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels /src

FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=builder /wheels /tmp/wheels
RUN python -m pip install --no-cache-dir --no-index --find-links=/tmp/wheels /tmp/wheels/mlgate-*.whl \
    && rm -rf /tmp/wheels
COPY entrypoint.py /usr/local/lib/mlgate-action/entrypoint.py
ENTRYPOINT ["/usr/local/bin/python", "/usr/local/lib/mlgate-action/entrypoint.py"]
