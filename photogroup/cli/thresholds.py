"""photogroup thresholds [--json] [--history]"""

from __future__ import annotations

import json

import click

from ..core.errors import UsageError
from ..pipeline.people import embedder_id
from .context import AppContext
from .output import table


@click.command("thresholds")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per threshold.")
@click.option("--history", is_flag=True, help="Also every stored change.")
@click.pass_obj
def command(app: AppContext, as_json: bool, history: bool) -> None:
    """Distance thresholds in force: configured, or learned from your review answers
    (how many they rest on, and the precision and recall they have on those answers)."""
    from ..pipeline import thresholds

    library, config = app.library(), app.config
    eid = embedder_id(library)
    if eid is None:
        raise UsageError('No faces yet: run "photogroup scan DIR" first.')
    with library.new_session() as s:
        states = [thresholds.estimate(s, config, eid, kind) for kind in thresholds.KINDS]
        in_force = {kind: thresholds.current(s, config, eid, kind) for kind in thresholds.KINDS}
        rows = thresholds.history(s, eid) if history else []
    if as_json:
        for st in states:
            click.echo(json.dumps({**st.as_json(), "in_force": in_force[st.kind]}))
        return

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    click.echo(f"Embedder {eid}; target precision {config.review.target_precision}.")
    table(
        ["KIND", "VALUE", "SOURCE", "ANSWERS", "SAME", "PRECISION", "RECALL"],
        [
            [
                st.kind,
                f"{in_force[st.kind]:.3f}",
                st.source,
                str(st.n_answers),
                str(st.n_same),
                pct(st.precision),
                pct(st.recall),
            ]
            for st in states
        ],
    )
    click.echo(
        "Precision and recall are measured on your answers. Learned values replace the "
        f"configured ones after {config.review.min_answers} answers of a kind (yes and no)."
    )
    for row in rows:
        click.echo(
            f"{row.created_at:%Y-%m-%d %H:%M}  {row.kind:6s} {row.value:.3f}  {row.source}  "
            f"({row.n_answers} answers)"
        )
