"""Webhooks in (a secret token or HMAC signature starts a run or a sync) and out (run done)."""
