"""The keyless demo's model: wdk.ai.fake's server with a few rules instead
of a language model. It calls the tools the way a model would (weather,
reminders, deleting files) and streams its answers slowly enough to watch."""

from __future__ import annotations

import json
import re
from typing import Any

from wdk.ai.fake import Reply

PACE = 0.03  # seconds between deltas


def demo_brain(body: dict[str, Any]) -> Reply:
    messages = body.get("messages", [])
    results = []
    for m in reversed(messages):  # tool results since the model last spoke
        if m.get("role") != "tool":
            break
        results.append(str(m.get("content")))
    if results:
        return Reply(text="Here is what I found: " + "; ".join(reversed(results)) + ".", delay=PACE)
    said = next((str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    lower = said.lower()
    if "weather" in lower:
        cities = re.findall(r"\b(?:in|and)\s+([A-Z][\w-]+)", said) or ["Berlin"]
        calls = [("get_weather", json.dumps({"city": c})) for c in dict.fromkeys(cities)]
        return Reply(text="Let me check the weather. ", tool_calls=calls, delay=PACE)
    if "remind" in lower:
        seconds = int(m.group(1)) if (m := re.search(r"(\d+)\s*s", lower)) else 10
        note = re.sub(r"(?i)^.*?remind me (?:in \d+\s*\w+ )?(?:to |about |of )?", "", said) or said
        return Reply(text="I will remind you. ", tool_calls=[("remind_me_later", json.dumps({"note": note, "seconds": seconds}))], delay=PACE)
    if "delete" in lower:
        path = said.split()[-1]
        return Reply(text=f"Deleting {path} needs your approval. ", tool_calls=[("delete_file", json.dumps({"path": path}))], delay=PACE)
    return Reply(
        text=(
            "I am wdk's keyless demo model, a few rules standing in for a language model. "
            "Ask me about the weather in a city, to remind you of something in 5s, or to "
            f"delete a file. You said: {said}"
        ),
        delay=PACE,
    )
