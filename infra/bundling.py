"""Asset building with no Docker and no network: the layer is copied, not pip-installed.

``PythonLayerVersion`` would start a container; everything the layer needs is pure Python
and already importable here (dynabatch from the repository, valkey and Powertools from
the venv that ``make install`` built from the pinned requirements.txt), so a copy into
``python/`` is the whole build, and the deployed Powertools is the tested one.
"""

from __future__ import annotations

import importlib.metadata
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
    "powertools_version",
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
    """Where the importable ``name`` lives (no import, so no side effects).

    A package's directory, or a single-file module's ``.py`` (``typing_extensions``).
    """
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec is not None and spec.origin and spec.origin.endswith(".py"):
        return Path(spec.origin)
    raise RuntimeError(
        f"package {name!r} is not installed in this Python; the Lambda layer copies it "
        "from here (run `make install`)"
    )


def powertools_version() -> str:
    """The installed (= pinned, = tested) Powertools release, e.g. ``3.37.0``."""
    return importlib.metadata.version(c.POWERTOOLS_DISTRIBUTION)


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
            if source.is_file():
                shutil.copy2(source, target / source.name)
            else:
                shutil.copytree(source, target / name, ignore=_COPY_IGNORE)
        return True


def layer_code(*, with_powertools: bool = True) -> lambda_.Code:
    """The batch layer's code: dynabatch + vendored pure-Python packages, built locally.

    The hash is taken over the output, so a new valkey or Powertools in the venv makes a
    new layer version even though ``lambdas/dynabatch`` did not change. Without
    Powertools (``-c powertools=public``) the layer holds dynabatch and valkey only.
    """
    packages = (c.LAYER_PACKAGE, *c.LAYER_VENDORED_PACKAGES)
    if with_powertools:
        packages += c.POWERTOOLS_PACKAGES
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
