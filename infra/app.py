"""The CDK app: `cd infra && cdk synth` (or deploy). Which environment: `-c unify:environment=dev|ci|prod|all`
(cdk.json's default: prod). docs/operations.md, "The platform as code"."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: loaders' layout and handler

import aws_cdk as cdk  # noqa: E402

from unify_infra.app import build_app  # noqa: E402

app = cdk.App()
build_app(app)
app.synth()
