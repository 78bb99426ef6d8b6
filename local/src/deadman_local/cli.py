"""``deadman-local``: the local stack (``run``) and its walkthrough (``demo``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deadman-local", description=__doc__)
    parser.add_argument("command", choices=["run", "demo"])
    args = parser.parse_args(argv)
    if args.command == "run":
        from .stack import run

        return run()
    from .demo import main as demo

    return demo()


if __name__ == "__main__":
    raise SystemExit(main())
