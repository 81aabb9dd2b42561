"""Parameter types shared by the commands."""

from __future__ import annotations

from typing import Any

import click

from ..db import MAX_ID


class IdType(click.ParamType):
    """A row id (a decision, a scan run): a whole number from 1 to SQLite's largest."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """`value` as an int from 1 to MAX_ID; a usage error naming the value otherwise."""
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not an id: give a whole number such as 12.", param, ctx)
        if not 1 <= number <= MAX_ID:
            self.fail(f"{value!r} is not an id: ids run from 1 to {MAX_ID}.", param, ctx)
        return number


ID = IdType()
