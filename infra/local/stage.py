"""Stages what the Lambda artefacts copy, and nothing else.

    python infra/local/stage.py runtime DEST              the runtime package into DEST/slmesh (the layer)
    python infra/local/stage.py image NAME DEST [--wheels DIR]    one model function's Docker build context
    python infra/local/stage.py contexts [--wheels DIR]   every model function's context in build/contexts/
    python infra/local/stage.py requirements              the runtime requirements the lock file is compiled from

The runtime package is src/slmesh without the subpackages pyproject.toml lists under [tool.slmesh.runtime]
`exclude`. The legacy Docker builder sends its whole context and ignores Dockerfile.dockerignore, so each image
gets a folder of its own: functions/Dockerfile, the lock file, the runtime package, its model, its app.py and
a wheels/ folder (empty: pip installs the locked files from PyPI; filled: from those wheels only, offline).
A model function is a functions/<name>/ listed in slmesh.cloud.images, which names the models/ folder it carries.
`runtime` and `requirements` use the standard library only (`sam build` runs `runtime` for the layer, with whatever
Python it finds); `image` and `contexts` read that table from the checkout's package, so they need the development
environment (`make contexts` runs them there).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "slmesh"
CONTEXTS = ROOT / "build" / "contexts"
LOCK = ROOT / "functions" / "requirements.lock"
# What the served model folders hold that no function reads.
MODEL_SKIP = ("model_fp32.onnx", "README.md")


def _pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def excluded_subpackages() -> list[str]:
    """The research subpackages, relative to src/slmesh ("training", ...), as pyproject.toml lists them."""
    names: list[str] = _pyproject()["tool"]["slmesh"]["runtime"]["exclude"]
    return [name.removeprefix("slmesh.").replace(".", "/") for name in names]


def runtime_requirements() -> list[str]:
    """pyproject's runtime dependencies plus the `lambda` extra: what every function image installs."""
    project = _pyproject()["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["lambda"]]


def image_models() -> dict[str, str]:
    """functions/<name> -> the models/ folder its image carries (slmesh.cloud.images, from the skill registry)."""
    sys.path.insert(0, str(ROOT / "src"))
    from slmesh.cloud.images import image_models as table

    return table()


def model_functions() -> list[str]:
    apps = (ROOT / "functions").glob("*/app.py")
    return sorted(p.parent.name for p in apps if p.parent.name in image_models())


def _fresh(dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    return dest


def stage_runtime(dest: Path) -> Path:
    """src/slmesh minus the research subpackages (a missing one is simply not there) into dest/slmesh."""
    skipped = {PACKAGE / name for name in excluded_subpackages()}
    skipped |= {path.with_suffix(".py") for path in skipped}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if Path(folder, n) in skipped or n == "__pycache__" or n.endswith(".pyc")}

    target = dest / "slmesh"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(PACKAGE, target, ignore=ignore)
    return target


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def stage_image(name: str, dest: Path, wheels: Path | None = None) -> Path:
    if name not in model_functions():
        raise SystemExit(f"{name!r} is not a model function (functions/<name> listed in slmesh.cloud.images)")
    if not LOCK.is_file():
        raise SystemExit(f"{LOCK.relative_to(ROOT)} is missing: `make lock` writes it")
    folder = image_models()[name]
    context = _fresh(dest)
    shutil.copy2(ROOT / "functions" / "Dockerfile", context / "Dockerfile")
    shutil.copy2(LOCK, context / LOCK.name)
    shutil.copy2(ROOT / "functions" / name / "app.py", context / "app.py")
    stage_runtime(context)
    model = context / "models" / folder
    model.mkdir(parents=True)
    for item in sorted((ROOT / "models" / folder).iterdir()):
        if item.is_file() and item.name not in MODEL_SKIP:
            _link_or_copy(item, model / item.name)
    (context / "wheels").mkdir()
    for wheel in sorted(wheels.glob("*.whl")) if wheels else []:
        _link_or_copy(wheel, context / "wheels" / wheel.name)
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stage.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("runtime").add_argument("dest", type=Path)
    image = commands.add_parser("image")
    image.add_argument("name")
    image.add_argument("dest", type=Path)
    image.add_argument("--wheels", type=Path)
    contexts = commands.add_parser("contexts")
    contexts.add_argument("--wheels", type=Path)
    commands.add_parser("requirements")
    args = parser.parse_args(argv)
    if args.command == "runtime":
        stage_runtime(args.dest)
    elif args.command == "image":
        stage_image(args.name, args.dest, args.wheels)
    elif args.command == "contexts":
        for name in model_functions():
            print(stage_image(name, CONTEXTS / name, args.wheels).relative_to(ROOT))
    else:
        print("\n".join(runtime_requirements()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
