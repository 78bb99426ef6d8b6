"""Task ids and device codes, written once.

Kapacitor (1.5 to 1.7) accepts a task id matching ``^[-\\._\\p{L}0-9]+$``: Unicode
letters, ASCII digits, ``-``, ``.`` and ``_``. A device's task id is its code plus
``TASK_ID_SUFFIX``; the template splices the code into a double-quoted InfluxQL
identifier, which neither quotes nor backslashes can reach under that rule. An id
made only of dots is refused too: URL normalisation rewrites ``.`` and ``..`` path
segments on the way to Kapacitor. The functions, the callback (device of an alert
id), the audit (device of a listed task), the settings and the local emulator all
use these rules.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ._exceptions import InvalidDeviceCodeError

__all__ = ["DATAPATH_TASK_ID", "TaskIds", "check_device_code", "task_id_problem"]

_ASCII_DIGITS_AND_PUNCTUATION = frozenset("0123456789-._")
# The data-path task's id and alert id (docs/datapath.md): never a device's.
DATAPATH_TASK_ID = "deadman_datapath"


def task_id_problem(text: str, *, part: bool = False) -> str:
    """Why ``text`` cannot be (with ``part``: be part of) a Kapacitor task id; ""
    when it can. A part may be empty or all dots (a suffix such as ``_not_fed``)."""
    if not text:
        return "" if part else "empty"
    for char in text:
        if not (char.isalpha() or char in _ASCII_DIGITS_AND_PUNCTUATION):
            return f"character {char!r} is not allowed; use letters, digits, '-', '.' and '_'"
    if not part and set(text) == {"."}:
        return "a code made only of dots is not a usable task id"
    return ""


@dataclass(frozen=True)
class TaskIds:
    """How device codes and task ids map onto each other."""

    suffix: str
    max_code_length: int = 128
    # Task ids no device may take (the heartbeat task's, the data-path task's).
    reserved: frozenset[str] = frozenset()

    def task_id(self, device: str) -> str:
        return device + self.suffix

    def device_of(self, task_id: str) -> str | None:
        """The device whose task this is; None for an id that is not a device's."""
        if task_id in self.reserved:
            return None
        if not self.suffix:
            return task_id
        if task_id.endswith(self.suffix) and task_id != self.suffix:
            return task_id[: -len(self.suffix)]
        return None

    def check(self, code: str) -> str:
        """Return ``code`` if its task id is usable, else raise InvalidDeviceCodeError."""
        return check_device_code(code, self.max_code_length, self.suffix, self.reserved)


def check_device_code(
    code: str, max_length: int, suffix: str, reserved: Collection[str] = ()
) -> str:
    """Return ``code`` if ``code + suffix`` can be a task id, else raise."""
    if not code:
        raise InvalidDeviceCodeError(code, "empty")
    if len(code) > max_length:
        raise InvalidDeviceCodeError(
            code[:64] + "…", f"longer than {max_length} characters (DEVICE_CODE_MAX_LENGTH)"
        )
    problem = task_id_problem(code + suffix)
    if problem:
        raise InvalidDeviceCodeError(code, problem)
    if code + suffix in reserved:
        owner = (
            "the data-path task's" if code + suffix == DATAPATH_TASK_ID else "the heartbeat task's"
        )
        raise InvalidDeviceCodeError(code, f"task id {code + suffix} is {owner}")
    return code
