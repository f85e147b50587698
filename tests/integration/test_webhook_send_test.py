"""'Send test' on an outbound webhook: a signed `test` notification, in its delivery history."""

from __future__ import annotations

import hashlib
import hmac
import json

from tests.integration.test_webhooks import Receiver, hook_server, poll  # noqa: F401
from tests.support.server import LiveServer


def test_send_test_posts_a_signed_test_event_and_records_it(
    hook_server: LiveServer,  # noqa: F811
) -> None:
    receiver = Receiver([])
    try:
        with hook_server.client() as c:
            hook = c.post("/api/webhooks/outbound", json={"url": receiver.url}).json()
            r = c.post(f"/api/webhooks/outbound/{hook['id']}/test")
            assert r.status_code == 202, r.text
            assert r.json()["event"] == "test"
            [delivery] = poll(
                lambda: [
                    d
                    for d in c.get(f"/api/webhooks/outbound/{hook['id']}/deliveries").json()
                    if d["status"] == "delivered"
                ],
                "the test delivery",
            )
            assert delivery["event"] == "test" and delivery["last_status_code"] == 200
            missing = c.post("/api/webhooks/outbound/nope/test")
            assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    finally:
        receiver.close()
    [(headers, body)] = receiver.requests
    expected = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-fastflow-signature-256"] == f"sha256={expected}"
    assert headers["x-fastflow-event"] == "test"
    assert json.loads(body)["sent_by"] == "admin"
