# The container that runs the scheduled load cycles on AWS: `unify cycle frequent|nightly`
# (docs/operations.md). `cdk deploy` builds it from the repository root (infra/: a Docker image asset);
# .dockerignore keeps the build context to what a cycle needs. Locally: docker build -t unify-cycle .
FROM public.ecr.aws/docker/library/python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    UNIFY_LOG_FORMAT=json

WORKDIR /app
# Dependencies first (pinned exactly as in CI), so code changes reuse the cached layer.
COPY pyproject.toml constraints.txt README.md ./
COPY loaders ./loaders
COPY unify ./unify
RUN pip install -c constraints.txt -e .
# The dbt project, and its connection template as ./profiles.yml (every secret comes from the environment).
COPY dbt_project.yml selectors.yml profiles.yml.example ./
COPY models ./models
COPY macros ./macros
COPY seeds ./seeds
COPY snapshots ./snapshots
COPY tests ./tests
COPY analyses ./analyses
RUN cp profiles.yml.example profiles.yml \
    && useradd --uid 10001 --no-create-home unify \
    && mkdir -p target logs \
    && chown -R unify /app/target /app/logs
USER unify
# The state machine overrides the command per cycle (infra/unify_infra/stack.py).
CMD ["unify", "cycle", "frequent"]
