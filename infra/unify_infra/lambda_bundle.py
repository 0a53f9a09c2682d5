"""How the loader Lambda is packaged from this repository, without Docker.

- **Function code**: the `loaders/` package straight from the checkout (`function_code()`: an asset of the
  repository root that excludes everything but loaders/). The handler is `loaders.lambda_handler.handler`.
- **Dependencies**: a layer with pyarrow and boto3 for the python3.11 runtime (Amazon Linux 2, x86_64),
  pinned in infra/lambda/requirements.txt, built by one pip command from manylinux2014 wheels:

      cd infra && python -m unify_infra.lambda_bundle layer      # -> infra/build/lambda-layer/python/...

  `cdk synth`/`cdk deploy` run the same command as the layer asset's local bundling (no Docker). Offline
  (tests, `cdk synth` with `-c aws:cdk:bundling-stacks=[]`) bundling is skipped and the template still
  names the layer. Pruned after pip: tests, sources and headers; the layer is ~155 MB unzipped, under
  Lambda's 250 MB with the function.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

INFRA = Path(__file__).resolve().parent.parent
ROOT = INFRA.parent
REQUIREMENTS = INFRA / "lambda" / "requirements.txt"
LAYER_OUT = INFRA / "build" / "lambda-layer"
HANDLER = "loaders.lambda_handler.handler"
# Sources, headers and tests only: pyarrow's shared libraries link to each other (pyarrow.lib needs
# libarrow_substrait, for one), so none is removed.
PRUNE = ("**/tests", "pyarrow/include", "pyarrow/src", "**/*.pyx", "**/*.pxd", "**/__pycache__")


def pip_command(target: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--only-binary=:all:",
            "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11",
            "--target", str(target), "-r", str(REQUIREMENTS)]


def build_layer(output_dir: Path) -> Path:
    """pip-install the pinned wheels into <output_dir>/python (Lambda's layer layout) and prune them."""
    target = output_dir / "python"
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(pip_command(target), check=True)
    for pattern in PRUNE:
        for path in list(target.glob(pattern)):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return target


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """Local bundling of the layer asset: the pip command above, on the deploying machine."""

    def try_bundle(self, output_dir: str, **_options) -> bool:
        build_layer(Path(output_dir))
        return True


def layer_code() -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(INFRA / "lambda"),
        bundling=BundlingOptions(image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.11"),
                                 local=PipLayerBundling()))


def function_code() -> lambda_.Code:
    """The loaders package from the checkout: everything else under the repository root is excluded."""
    return lambda_.Code.from_asset(str(ROOT), exclude=["*", ".*", "!loaders", "!loaders/**", "**/__pycache__",
                                                       "**/*.pyc"])


def main(argv: list[str]) -> int:
    if argv[:1] != ["layer"]:
        print("usage: python -m unify_infra.lambda_bundle layer   (builds infra/build/lambda-layer)", file=sys.stderr)
        return 2
    target = build_layer(LAYER_OUT)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"layer built in {target}: {size / 1e6:.0f} MB unzipped (Lambda's limit: 250 MB with the function)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
