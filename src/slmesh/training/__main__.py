"""`python -m slmesh.training COMMAND ...`: fine-tune, export, quantise, evaluate and write the model card."""

from __future__ import annotations

import argparse

from slmesh.training.commands import card, embed, pick, qa, router, sentiment

COMMANDS = (sentiment, qa, router, embed, pick, card)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m slmesh.training", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
