"""Builds: a `.py` or `.zip` source uploaded over the API and run as an ad-hoc pipeline."""
