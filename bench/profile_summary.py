"""Summarise py-spy's raw (collapsed) stacks as text: where the samples went.

    .venv/bin/python bench/profile_summary.py STACKS.txt [--top 25] [--title T]

Samples are of active threads only (py-spy leaves idle ones out), summed over
threads. "inclusive" counts a frame once per sample it is on the stack of, "self"
only when it is the innermost frame. The ``--focus`` option restricts the sample
set to stacks through a frame whose text contains the given string.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*) \((?P<where>[^()]*)\)$")


def _frame_key(frame: str) -> str:
    """``function (file.py)`` without the line number, so lines of one function merge."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    where = match.group("where").rsplit(":", 1)[0]
    return f"{match.group('name')} ({where})"


def summarise(path: Path, top: int = 25, title: str = "", focus: str = "") -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if focus and not any(focus in frame for frame in frames):
            continue
        count = int(count_text)
        total += count
        thread = frames[0].split(":", 1)[-1].strip() if frames[0].startswith("thread") else "?"
        threads[re.sub(r"[-_]?\d+$", "", thread) or thread] += count
        keys = [_frame_key(f) for f in frames[1:]]
        for key in set(keys):
            inclusive[key] += count
        if keys:
            own[keys[-1]] += count
    lines = [f"# {title or path.name}", f"samples: {total} (active threads, all summed)", ""]
    lines.append("## by thread")
    lines += [f"{n:7d} {n / total:6.1%}  {name}" for name, n in threads.most_common(10)]
    lines += ["", f"## inclusive (top {top})"]
    lines += [f"{n:7d} {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", f"## self (top {top})"]
    lines += [f"{n:7d} {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--title", default="")
    parser.add_argument("--focus", default="")
    args = parser.parse_args()
    if not args.stacks.exists():
        print(f"no such file: {args.stacks}", file=sys.stderr)
        return 1
    sys.stdout.write(summarise(args.stacks, args.top, args.title, args.focus))
    return 0


if __name__ == "__main__":
    sys.exit(main())
