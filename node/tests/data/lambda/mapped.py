"""Test function for Tollgate's AWS (non-proxy) Lambda integrations (run by awslambdaric).

The payload is what the integration's request template rendered (or the body passed
through). `action` picks what it does:
- "greet" (or none): returns {"greeting": "hello NAME", "event": <the payload>};
- "bad":   raises ValueError("Bad request: NAME") (selected into a 400);
- "boom":  raises RuntimeError("something else broke") (no pattern matches it);
- "sleep": sleeps `s` seconds, then returns {"slept": true}.
"""
import time


def handler(event, context):
    action = event.get("action") if isinstance(event, dict) else None
    name = event.get("name") if isinstance(event, dict) else None
    if action == "bad":
        raise ValueError("Bad request: %s" % name)
    if action == "boom":
        raise RuntimeError("something else broke")
    if action == "sleep":
        time.sleep(float(event.get("s", 1)))
        return {"slept": True}
    return {"greeting": "hello %s" % name, "event": event}
