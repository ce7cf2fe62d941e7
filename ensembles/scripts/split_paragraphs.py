#!/usr/bin/env python3
"""Split the ensemble input into paragraphs, one per instance of a fan-out agent.

stdin is llm-orc's script JSON. As the first agent (no dependencies) that is
    {"input": "<the ensemble input, as text>", "parameters": {}, "context": {}}
and with `depends_on` it is
    {"agent_name": ..., "input_data": "<the ensemble input>", "context": {}, "dependencies": {...}};
either way the ensemble input is split. Prints
    {"success": true, "data": ["first paragraph", "second paragraph", ...]}
and each item of `data` becomes the input of one instance of the `fan_out: true` agent that
depends on this one. Paragraphs are separated by blank lines; text without a blank line is split
into sentences.
"""
import json
import re
import sys


def main() -> None:
    raw = sys.stdin.read()
    try:
        payload = json.loads(raw)
        if isinstance(payload, dict):
            text = payload.get("input", payload.get("input_data", ""))
        else:
            text = payload
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
