"""The smallest pipeline: prints a greeting using its parameter."""

import os

name = os.environ.get("NAME", "world")
print(f"Hello, {name}!")
print(f"run {os.environ['FASTFLOW_RUN_ID']} of pipeline {os.environ['FASTFLOW_PIPELINE']}")
