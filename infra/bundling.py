"""Asset building with no Docker and no network: the layer is copied, not pip-installed.

``PythonLayerVersion`` would start a container; everything the layer needs is pure Python
and already importable here (dynabatch from the repository, valkey from the venv), so a
copy into ``python/`` is the whole build.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra import constants as c

__all__ = [
    "LayerBundler",
    "CODE_EXCLUDES",
    "function_code",
    "layer_code",
    "package_dir",
]

#: Never shipped: caches, compiled files, and the layer's own package (the layer has it).
CODE_EXCLUDES: tuple[str, ...] = (
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "*.egg-info",
    c.LAYER_PACKAGE,
)
_COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.egg-info")


def package_dir(name: str) -> Path:
    """The directory of the importable package ``name`` (no import, so no side effects)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"package {name!r} is not installed in this Python; the Lambda layer copies it "
            "from here (run `make install`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@jsii.implements(ILocalBundling)
class LayerBundler:
    """Copies package directories into ``<output>/python/`` as a Lambda layer expects.

    ``sources`` maps each package name to its directory (see :func:`package_dir`).
    """

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def try_bundle(self, output_dir: str, *_args: Any, **_kwargs: Any) -> bool:
        # jsii passes the BundlingOptions positionally or as keywords depending on the
        # runtime version; they hold nothing this copy needs.
        target = Path(output_dir) / "python"
        target.mkdir(parents=True, exist_ok=True)
        for name, source in self.sources.items():
            shutil.copytree(source, target / name, ignore=_COPY_IGNORE)
        return True


def layer_code() -> lambda_.Code:
    """The batch layer's code: dynabatch + vendored pure-Python clients, built locally.

    The hash is taken over the output, so a new valkey in the venv makes a new layer
    version even though ``lambdas/dynabatch`` did not change.
    """
    packages = (c.LAYER_PACKAGE, *c.LAYER_VENDORED_PACKAGES)
    return lambda_.Code.from_asset(
        str(package_dir(c.LAYER_PACKAGE)),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Never pulled: the local bundler always succeeds. CDK requires an image anyway.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
            local=LayerBundler({name: package_dir(name) for name in packages}),
        ),
    )


def function_code() -> lambda_.Code:
    """The functions' code: ``lambdas/`` without dynabatch (from the layer) or caches."""
    return lambda_.Code.from_asset(str(c.LAMBDAS_DIR), exclude=list(CODE_EXCLUDES))
