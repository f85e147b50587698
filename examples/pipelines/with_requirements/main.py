"""Uses a third-party package from requirements.txt, installed by uv on the first run."""

from tabulate import tabulate

rows = [("extract", 120, "ok"), ("transform", 118, "ok"), ("load", 118, "ok")]
print(tabulate(rows, headers=["step", "rows", "state"]))
