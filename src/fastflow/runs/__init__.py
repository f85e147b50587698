"""The run lifecycle: accepting runs, executing claimed ones, finishing and retrying them."""
