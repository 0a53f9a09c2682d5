"""The CDK app synthesised once per session, offline, for every environment (dev, ci, prod).

Offline means: no AWS account (the stacks are environment-agnostic: account and region stay
CloudFormation pseudo parameters), no Docker (the cycle image is an asset fingerprinted, not built),
no network (the Lambda layer's pip bundling is skipped through CDK's `aws:cdk:bundling-stacks` context;
the template still names the layer). cdk-nag's AWS Solutions checks run during that synthesis.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


@dataclass
class Synthesised:
    outdir: Path
    templates: dict[str, dict]          # environment -> CloudFormation template
    messages: dict[str, list[tuple]]    # environment -> (level, construct path, text) from the synthesis
    stacks: dict                         # environment -> the UnifyPlatformStack (its config and constructs)

    def template_path(self, environment: str) -> Path:
        return self.outdir / f"unify-{environment}.template.json"


@pytest.fixture(scope="session")
def synthesised(tmp_path_factory) -> Synthesised:
    if str(INFRA) not in sys.path:
        sys.path.insert(0, str(INFRA))
    import aws_cdk as cdk

    from unify_infra.app import build_app
    from unify_infra.environments import ENVIRONMENTS

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir), context={"aws:cdk:bundling-stacks": [],
                                                   "aws:cdk:enable-asset-metadata": True})
    stacks = build_app(app, list(ENVIRONMENTS))
    assembly = app.synth()
    templates, messages = {}, {}
    for name in stacks:
        artifact = assembly.get_stack_by_name(f"unify-{name}")
        templates[name] = json.loads((outdir / artifact.template_file).read_text())
        messages[name] = [(str(m.level), m.id, m.entry.data if isinstance(m.entry.data, str) else str(m.entry.data))
                          for m in artifact.messages]
    return Synthesised(outdir, templates, messages, stacks)
