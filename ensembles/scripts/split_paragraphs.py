#!/usr/bin/env python3
"""Split the ensemble input into paragraphs for a fan-out agent.

Reads llm-orc's script JSON on stdin ({"input": ...}) and prints
{"success": true, "data": [paragraph, ...]}; a single block of text is split into sentences.
"""
import json
import re
import sys


def main() -> None:
    raw = sys.stdin.read()
    try:
        payload = json.loads(raw)
        text = payload.get("input", "") if isinstance(payload, dict) else payload
    except json.JSONDecodeError:
        text = raw
    if not isinstance(text, str):
        text = json.dumps(text)
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(parts) < 2:
        parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]
    print(json.dumps({"success": True, "data": parts}))


if __name__ == "__main__":
    main()
