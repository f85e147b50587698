"""The runs table's columns and cell templates (Vue text interpolation: values are escaped)."""

from __future__ import annotations

from typing import Any


def _col(
    name: str, label: str, field: str, align: str = "left", sortable: bool = False
) -> dict[str, Any]:
    return {"name": name, "label": label, "field": field, "align": align, "sortable": sortable}


COLUMNS: list[dict[str, Any]] = [
    _col("id", "Run", "id"),
    _col("pipeline_name", "Pipeline", "pipeline_name", sortable=True),
    _col("status", "Status", "status", sortable=True),
    _col("progress", "Progress", "progress"),
    _col("created_at", "Created", "created", sortable=True),
    _col("duration", "Duration", "duration", align="right"),
    _col("trigger", "Trigger", "trigger"),
    _col("attempt", "Attempt", "attempt", align="right"),
]

SLOTS: dict[str, str] = {
    "body-cell-id": (
        '<q-td :props="props"><a class="text-primary ff-mono" :href="\'/runs/\' + props.row.id">'
        "{{ props.row.short }}</a></q-td>"
    ),
    "body-cell-status": (
        '<q-td :props="props"><q-badge :color="props.row.color" text-color="white" '
        ':label="props.value" /></q-td>'
    ),
    "body-cell-progress": (
        '<q-td :props="props"><div v-if="props.row.progress !== null" '
        'class="row no-wrap items-center" style="gap: 6px; max-width: 16rem">'
        '<q-linear-progress :value="props.row.progress / 100" size="6px" rounded '
        ':color="props.row.color" style="width: 56px; flex: none" />'
        "<span>{{ props.row.progress }}%</span>"
        '<span class="text-grey-7 ellipsis" :title="props.row.ptext">{{ props.row.ptext }}</span>'
        '</div><span v-else class="text-grey-6">—</span></q-td>'
    ),
    "body-cell-created_at": (
        '<q-td :props="props"><span :title="props.row.created" '
        ':data-ff-ago="props.row.created_ts" data-testid="run-created">{{ props.row.ago }}</span>'
        "</q-td>"
    ),
    "body-cell-duration": (
        '<q-td :props="props"><span :data-ff-since="props.row.live_since" '
        'data-testid="run-duration">{{ props.value }}</span></q-td>'
    ),
}
