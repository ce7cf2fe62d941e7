#!/usr/bin/env python3
"""Routes every task of the labelled routing set through `orc mcp serve` (route_task over MCP's
stdio transport, one JSON-RPC line per message) and prints, per set, the accuracy and the
confusion tables. See tests/fixtures/routing/README.md for the set and scripts/routing-eval for
how to run it.

  routing_eval.py --orc target/release/orc [--set dev|heldout|both] [--delegation N]
                  [--legacy] [--misses] [--json FILE]

--legacy sends what the old route_task took: one `task` string, the input pasted after the
instruction, files not given (their content cannot be pasted: they are past what one call
carries), as SKILL.md's one-sentence call did.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "routing")
SETS = {"dev": "dev.json", "heldout": "heldout.json"}


def text(v):
    return "\n".join(v) if isinstance(v, list) else (v or "")


class Mcp:
    def __init__(self, orc, project, home):
        env = {k: v for k, v in os.environ.items()
               if k not in ("XDG_CONFIG_HOME", "LLM_ORC_LIBRARY_PATH", "OLLAMA_HOST", "OLLAMA_HOSTS")}
        env["HOME"] = home
        self.p = subprocess.Popen([orc, "mcp", "serve"], cwd=project, env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.next = 1
        self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "routing-eval", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.p.stdin.write(json.dumps(msg) + "\n")
        self.p.stdin.flush()

    def request(self, method, params):
        i = self.next
        self.next += 1
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        while True:
            line = self.p.stdout.readline()
            if not line:
                sys.exit(f"orc mcp serve closed its output during {method}")
            msg = json.loads(line)
            if msg.get("id") == i:
                if "error" in msg:
                    sys.exit(f"{method}: {msg['error']}")
                return msg["result"]

    def route(self, args):
        r = self.request("tools/call", {"name": "route_task", "arguments": args})
        if r.get("isError"):
            return {"route": "error", "reason": json.dumps(r.get("content"))}
        return r.get("structuredContent") or {}

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


def arguments(task, legacy, delegation):
    instruction = text(task["task"])
    if legacy:
        inline = text(task.get("input"))
        return {"task": instruction + ("\n\n" + inline if inline else "")}
    args = {"task": instruction}
    if "input" in task:
        args["input"] = text(task["input"])
    if task.get("input_files"):
        args["input_files"] = task["input_files"]
    if delegation is not None:
        args["delegation"] = delegation
    return args


def side(route):
    return "claude" if route == "claude" else ("local" if route in ("local", "new-ensemble") else route)


def evaluate(mcp, tasks, legacy, delegation):
    rows = []
    for t in tasks:
        r = mcp.route(arguments(t, legacy, delegation))
        got = r.get("route", "?")
        ens = r.get("ensemble") if got == "local" else ("new" if got == "new-ensemble" else None)
        # A library ensemble in a category folder answers as `category/name`.
        ens = ens.rsplit("/", 1)[-1] if ens else ens
        want_ens = t.get("ensemble")
        rows.append({
            "id": t["id"], "want": t["route"], "got": side(got), "got_route": got,
            "want_type": t["type"], "got_type": r.get("task_type"),
            "want_ensemble": want_ens, "got_ensemble": ens,
            "reason": r.get("reason", ""), "why": t.get("why", ""),
            "net": (r.get("breakeven") or {}).get("net_usd"),
            "candidates": [(c.get("ensemble"), c.get("score")) for c in r.get("candidates", [])][:3],
        })
    return rows


def pct(a, b):
    return f"{a}/{b} ({100.0 * a / b:.1f}%)" if b else "0/0"


def report(name, rows, misses):
    n = len(rows)
    right = sum(r["want"] == r["got"] for r in rows)
    claude = [r for r in rows if r["want"] == "claude"]
    local = [r for r in rows if r["want"] == "local"]
    c_local = sum(r["got"] == "local" for r in claude)
    l_claude = sum(r["got"] == "claude" for r in local)
    types = sum(r["want_type"] == r["got_type"] for r in rows)
    named = [r for r in local if r["want_ensemble"] not in (None, "*")]
    named_routed = [r for r in named if r["got"] == "local"]
    ens_right = sum(r["got_ensemble"] == r["want_ensemble"] for r in named_routed)
    built = [r for r in named if r["want_ensemble"] != "new"]
    built_right = sum(r["got_ensemble"] == r["want_ensemble"] for r in built)
    both = sum(r["want"] == r["got"] and (r["want"] == "claude" or r["want_ensemble"] in ("*", None)
                                         or r["got_ensemble"] == r["want_ensemble"]) for r in rows)
    print(f"== {name}: {n} tasks ({len(claude)} for Claude, {len(local)} local by the matrix)")
    print(f"route right (local vs Claude):    {pct(right, n)}")
    print(f"Claude tasks routed local:        {pct(c_local, len(claude))}")
    print(f"local tasks routed to Claude:     {pct(l_claude, len(local))}")
    print(f"task type right:                  {pct(types, n)}")
    print(f"ensemble right (routed local):    {pct(ens_right, len(named_routed))}")
    print(f"purpose-built ensemble chosen:    {pct(built_right, len(built))}")
    print(f"route and ensemble both right:    {pct(both, n)}")
    routed_local = [r for r in rows if r["got"] == "local"]
    pays = sum((r["net"] or 0) > 0 for r in routed_local)
    print(f"routed local that pay (net > 0):  {pct(pays, len(routed_local))}  (the break-even; the set's project turns its veto off)")
    print()
    got_cols = ["local", "new-ensemble", "claude"]
    print(f"{'matrix says':<14}" + "".join(f"{c:>14}" for c in got_cols))
    for want in ["local", "claude"]:
        sel = [r for r in rows if r["want"] == want]
        print(f"{want:<14}" + "".join(f"{sum(r['got_route'] == c for r in sel):>14}" for c in got_cols))
    print()
    type_names = sorted({r["want_type"] for r in rows})
    got_types = sorted({str(r["got_type"]) for r in rows})
    short = {t: t[:6] for t in got_types}
    print("task types (rows: label, columns: classified)")
    print(f"{'':<16}" + "".join(f"{short[t]:>7}" for t in got_types))
    for want in type_names:
        sel = [r for r in rows if r["want_type"] == want]
        print(f"{want:<16}" + "".join(f"{sum(str(r['got_type']) == t for r in sel) or '.':>7}" for t in got_types))
    print()
    if misses:
        for r in rows:
            ens_wrong = (r["want"] == "local" and r["got"] == "local" and r["want_ensemble"] not in (None, "*")
                         and r["got_ensemble"] != r["want_ensemble"])
            if r["want"] != r["got"] or ens_wrong:
                print(f"  {r['id']}: want {r['want']}/{r['want_ensemble'] or '-'} ({r['why']}); "
                      f"got {r['got_route']}/{r['got_ensemble'] or '-'} as {r['got_type']}: {r['reason'][:160]}")
                if ens_wrong:
                    print(f"        candidates: {r['candidates']}")
        print()
    return {"tasks": n, "route_right": right, "claude_tasks": len(claude), "claude_routed_local": c_local,
            "local_tasks": len(local), "local_routed_claude": l_claude, "type_right": types,
            "ensemble_right": ens_right, "ensemble_routed": len(named_routed),
            "purpose_built": len(built), "purpose_built_right": built_right, "both_right": both}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orc", default=os.path.join(ROOT, "target", "release", "orc"))
    ap.add_argument("--set", choices=["dev", "heldout", "both"], default="both")
    ap.add_argument("--delegation", type=int)
    ap.add_argument("--legacy", action="store_true")
    ap.add_argument("--misses", action="store_true", help="list every wrong answer")
    ap.add_argument("--json", help="write the figures as JSON to this file")
    a = ap.parse_args()
    a.orc = os.path.abspath(a.orc)
    tmp = tempfile.mkdtemp(prefix="routing-eval-")
    try:
        project = os.path.join(tmp, "project")
        shutil.copytree(os.path.join(FIXTURES, "project"), project, symlinks=False)
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        mcp = Mcp(a.orc, project, home)
        out = {}
        for key in (["dev", "heldout"] if a.set == "both" else [a.set]):
            tasks = json.load(open(os.path.join(FIXTURES, SETS[key])))["tasks"]
            rows = evaluate(mcp, tasks, a.legacy, a.delegation)
            label = {"dev": "development set", "heldout": "HELD-OUT set"}[key]
            out[key] = report(label + (" (legacy call)" if a.legacy else ""), rows, a.misses)
        mcp.close()
        if a.json:
            json.dump(out, open(a.json, "w"), indent=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
