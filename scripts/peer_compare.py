#!/usr/bin/env python3
"""Side by side: orc and llm-orc on the same ensembles against one neutral Ollama stand-in.

Run by scripts/peer-compare, which builds orc and installs llm-orchestra into virtual
environments. Standard library only. For every (latency, slots) configuration it starts orc-sim
as a separate process on 127.0.0.1:11434 (llm-orc 0.19.0 always calls that address), writes each
tool's project config, and runs every ensemble `--reps` times per tool, measuring:

  wall_s       the whole CLI process, measured around it
  ideal_s      the server's ideal for the DAG: sum over levels of the slowest model's waves,
               ceil(k / slots) x S, S = ttft + tokens x tok (fan-out ensembles: '-')
  overhead_s   wall_s - ideal_s
  startup_s    process start -> first generation request at the server
  rss_mib      peak resident memory of the CLI process (wait4's rusage)
  inflight     most generation requests in flight at once at the server
  ok           agents that succeeded / agents in the result

It prints the table and the orc/llm-orc ratios and writes results.md and results.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

INPUT = ("Why is the sky blue? Sunlight scatters off air molecules. Short wavelengths "
         "scatter more strongly. Sunsets look red because the path is longer.")


# ---------------------------------------------------------------- the ensembles
def agent(name, profile, prompt, deps=None, extra=""):
    s = f"  - name: {name}\n    model_profile: {profile}\n    system_prompt: \"{prompt}\"\n"
    if deps:
        s += "    depends_on: [" + ", ".join(deps) + "]\n"
    return s + extra


def ensembles() -> dict[str, str]:
    """The benchmark shapes: sequential, fan-in, swarm, fan-out (LLM and script), nested, wide."""
    def doc(name, desc, body):
        return f"name: {name}\ndescription: \"{desc}\"\n\nagents:\n{body}"
    out = {}
    out["peer-sequential"] = doc("peer-sequential", "3 in a chain",
        agent("drafter", "tiny", "[drafter] Draft an answer.")
        + agent("critic", "small", "[critic] Critique it.", ["drafter"])
        + agent("finalizer", "tiny", "[finalizer] Finish it.", ["critic"]))
    out["peer-fanin"] = doc("peer-fanin", "8 -> 1",
        "".join(agent(f"analyst-{i}", "tiny", f"[analyst {i}] Angle {i}.") for i in range(8))
        + agent("synthesizer", "small", "[synthesizer] Merge.", [f"analyst-{i}" for i in range(8)]))
    body = "".join(agent(f"extractor-{i:02}", "tiny", f"[extractor {i:02}] Fact {i}.") for i in range(32))
    body += "".join(agent(f"analyzer-{g}", "small", f"[analyzer {g}] Group {g}.",
                          [f"extractor-{i:02}" for i in range(g * 8, g * 8 + 8)]) for g in range(4))
    body += agent("synthesizer", "small", "[synthesizer] Synthesize.", [f"analyzer-{g}" for g in range(4)])
    out["peer-swarm"] = doc("peer-swarm", "32 -> 4 -> 1", body)
    out["peer-fanout-llm"] = doc("peer-fanout-llm", "planner array -> fan-out x8 -> reducer",
        agent("planner", "tiny", "[planner] Split into subtasks as a JSON array. [[fake:json_array=8]]")
        + agent("worker", "tiny", "[worker] Solve it.", ["planner"], "    fan_out: true\n")
        + agent("reducer", "small", "[reducer] Combine.", ["worker"]))
    out["peer-fanout-script"] = doc("peer-fanout-script", "script chunks -> fan-out -> reducer",
        "  - name: chunker\n    script: scripts/chunk_sentences.py\n"
        + agent("worker", "tiny", "[worker] Summarise.", ["chunker"], "    fan_out: true\n")
        + agent("reducer", "small", "[reducer] Combine.", ["worker"]))
    out["peer-nested"] = doc("peer-nested", "framer -> two child ensembles -> judge",
        agent("framer", "tiny", "[framer] Restate.")
        + "  - name: child-seq\n    ensemble: peer-sequential\n    depends_on: [framer]\n"
        + "  - name: child-fanin\n    ensemble: peer-fanin\n    depends_on: [framer]\n"
        + agent("judge", "small", "[judge] Judge.", ["child-seq", "child-fanin"]))
    out["peer-wide128"] = doc("peer-wide128", "128 -> 1",
        "".join(agent(f"w{i:03}", "tiny", f"[wide {i:03}] Fact {i}.") for i in range(128))
        + agent("synthesizer", "small", "[synthesizer] Merge.", [f"w{i:03}" for i in range(128)]))
    return out


CHUNKER = '''import json, re, sys
raw = sys.stdin.read()
try:
    payload = json.loads(raw)
    text = payload.get("input", "") if isinstance(payload, dict) else str(payload)
except ValueError:
    text = raw
parts = [p for p in re.split(r"(?<=[.!?])\\s+", str(text).strip()) if p]
print(json.dumps({"success": True, "data": parts}))
'''


def config(tool: str, port: int, slots: int) -> str:
    provider = "ollama" if tool == "llm-orc-0.19.0" else "openai-compatible"
    base = "" if provider == "ollama" else f"    base_url: http://127.0.0.1:{port}/v1\n"
    profiles = "".join(
        f"  {name}:\n    model: {model}\n    provider: {provider}\n{base}    cost_per_token: 0.0\n"
        f"    system_prompt: You are brief.\n    timeout_seconds: 300\n"
        for name, model in (("tiny", "qwen3:0.6b"), ("small", "gemma3:1b")))
    limit = f"    per_model_limit: {slots if slots > 0 else 256}\n" if tool == "orc" else ""
    return (f"project:\n  name: peer-compare\nperformance:\n  concurrency:\n    max_concurrent_agents: 0\n{limit}"
            f"model_profiles:\n{profiles}")


def write_project(root: str, tool: str, port: int, slots: int) -> None:
    local = os.path.join(root, ".llm-orc")
    shutil.rmtree(local, ignore_errors=True)
    os.makedirs(os.path.join(local, "ensembles"))
    os.makedirs(os.path.join(local, "scripts"))
    for name, text in ensembles().items():
        with open(os.path.join(local, "ensembles", name + ".yaml"), "w") as f:
            f.write(text)
    with open(os.path.join(local, "scripts", "chunk_sentences.py"), "w") as f:
        f.write(CHUNKER)
    with open(os.path.join(local, "config.yaml"), "w") as f:
        f.write(config(tool, port, slots))


# ---------------------------------------------------------------- measuring
def ideal(orc: str, root: str, ensemble: str, slots: int, service: float):
    """The server's ideal makespan from orc's own graph of the ensemble (None for fan-out)."""
    out = subprocess.run([orc, "--project", root, "graph", ensemble, "--format", "json"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    g = json.loads(out.stdout)
    if g["pattern"] in ("fan-out", "composable"):
        return None
    total = 0
    for level in g["levels"]:
        waves = [math.ceil(n / slots) if slots > 0 else 1 for n in level["models"].values()]
        total += max(waves, default=0)
    return total * service


def start_sim(sim: str, port: int, ttft: float, tok: float, tokens: int, slots: int, log: str):
    if os.path.exists(log):
        os.remove(log)
    proc = subprocess.Popen([sim, "--port", str(port), "--ttft-ms", str(ttft), "--tok-ms", str(tok),
                             "--tokens", str(tokens), "--parallel", str(slots), "--log", log],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket
    deadline = time.time() + 10
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.02)
    proc.kill()
    sys.exit(f"orc-sim did not start on port {port} (is something else listening there?)")


def read_log(log: str, since: float) -> list[dict]:
    rows = []
    try:
        with open(log) as f:
            for line in f:
                r = json.loads(line)
                if r.get("arrive_unix", 0) >= since:
                    rows.append(r)
    except FileNotFoundError:
        pass
    return rows


def max_inflight(rows: list[dict]) -> int:
    events = sorted([(r["arrive_unix"], 1) for r in rows] + [(r["end_unix"], -1) for r in rows])
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def run_once(cmd: list[str], cwd: str, env: dict, log: str):
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, _err = proc.communicate()
    wall = time.time() - t0
    rows = read_log(log, t0)
    ok = total = 0
    try:
        doc = json.loads(out)
        for k, v in doc.get("results", {}).items():
            if "[" in k:
                continue
            total += 1
            ok += v.get("status") == "success"
    except ValueError:
        pass
    startup = (min(r["arrive_unix"] for r in rows) - t0) if rows else None
    return wall, startup, max_inflight(rows), ok, total, proc.returncode


def peak_rss_of(cmd, cwd, env):
    """Peak RSS (MiB) of one run. GNU time forks the command from its own small process, so the
    figure is the command's own; a fork or vfork from this interpreter would add its pages."""
    out = os.path.join(cwd, ".peak-rss")
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out] + cmd, cwd=cwd, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with open(out) as f:
            return int(f.read().strip().splitlines()[-1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return float("nan")


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orc", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--llm-orc", action="append", default=[], help="LABEL=PATH of an llm-orc binary")
    ap.add_argument("--work", required=True)
    ap.add_argument("--port", type=int, default=11434)
    ap.add_argument("--ensembles", default="peer-sequential,peer-fanin,peer-swarm,peer-fanout-llm,peer-nested")
    ap.add_argument("--latency", action="append", default=[], help="name:ttft_ms:tok_ms:tokens")
    ap.add_argument("--slots", default="4")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--wide", action="store_true", help="also run peer-wide128 once per tool (failures probe)")
    a = ap.parse_args()
    latencies = a.latency or ["zero:0:0:64", "real:100:10:64"]
    tools = [("orc", [a.orc])] + [(f"llm-orc-{lp.split('=', 1)[0]}", [lp.split("=", 1)[1]]) for lp in a.llm_orc]
    os.makedirs(a.work, exist_ok=True)
    home = os.path.join(a.work, "home")
    os.makedirs(home, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "LLM_ORC_LIBRARY_PATH")}
    env["HOME"] = home
    env["OLLAMA_HOST"] = f"127.0.0.1:{a.port}"
    log = os.path.join(a.work, "sim.jsonl")
    results = []
    for lat in latencies:
        name, ttft, tok, tokens = lat.split(":")
        service = (float(ttft) + int(tokens) * float(tok)) / 1000.0
        for slots in [int(s) for s in a.slots.split(",")]:
            sim = start_sim(a.sim, a.port, float(ttft), float(tok), int(tokens), slots, log)
            try:
                plan = [(e, a.reps) for e in a.ensembles.split(",")]
                if a.wide:
                    plan.append(("peer-wide128", 1))
                for tool, binary in tools:
                    root = os.path.join(a.work, tool)
                    write_project(root, tool, a.port, slots)
                    subprocess.run(binary + ["invoke", "peer-sequential", "warm-up", "--output-format", "json"],
                                   cwd=root, env=env, capture_output=True)
                    for ens, reps in plan:
                        cmd = binary + ["invoke", ens, INPUT, "--output-format", "json"]
                        runs = [run_once(cmd, root, env, log) for _ in range(reps)]
                        rss = peak_rss_of(cmd, root, env)
                        wall = median([r[0] for r in runs])
                        ide = ideal(a.orc, root, ens, slots, service)
                        row = {
                            "tool": tool, "ensemble": ens, "latency": name, "service_s": service, "slots": slots,
                            "reps": reps, "wall_s": wall, "ideal_s": ide,
                            "overhead_s": None if ide is None else wall - ide,
                            "startup_s": median([r[1] for r in runs]), "rss_mib": rss,
                            "inflight": max(r[2] for r in runs),
                            "ok": min(r[3] for r in runs), "agents": max(r[4] for r in runs),
                            "exit": max(r[5] for r in runs),
                        }
                        results.append(row)
                        print(f"[{tool} {ens} {name} slots={slots}] wall={fmt(wall)} overhead={fmt(row['overhead_s'])} "
                              f"startup={fmt(row['startup_s'])} rss={rss:.1f}MiB inflight={row['inflight']} "
                              f"ok={row['ok']}/{row['agents']}", flush=True)
            finally:
                sim.terminate()
                sim.wait()
    write_tables(a.work, results, [t for t, _ in tools])


def write_tables(work: str, results: list[dict], tools: list[str]) -> None:
    lines = ["| tool | ensemble | latency | slots | wall s | ideal s | overhead s | startup s | peak RSS MiB | max in flight | agents ok |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['tool']} | {r['ensemble']} | {r['latency']} (S={r['service_s']:.2f}s) | {r['slots']} | "
                     f"{fmt(r['wall_s'])} | {fmt(r['ideal_s'])} | {fmt(r['overhead_s'])} | {fmt(r['startup_s'])} | "
                     f"{r['rss_mib']:.1f} | {r['inflight']} | {r['ok']}/{r['agents']} |")
    ratios = ["", "Ratios orc / llm-orc (same ensemble, latency and slots):", "",
              "| vs | ensemble | latency | slots | wall | overhead | startup | peak RSS |", "|---|---|---|---:|---:|---:|---:|---:|"]
    key = lambda r: (r["ensemble"], r["latency"], r["slots"])
    orc_rows = {key(r): r for r in results if r["tool"] == "orc"}
    for r in results:
        if r["tool"] == "orc" or key(r) not in orc_rows:
            continue
        o = orc_rows[key(r)]
        div = lambda x, y: "-" if x is None or y in (None, 0) else f"{x / y:.3f}"
        ratios.append(f"| {r['tool']} | {r['ensemble']} | {r['latency']} | {r['slots']} | {div(o['wall_s'], r['wall_s'])} | "
                      f"{div(o['overhead_s'], r['overhead_s'])} | {div(o['startup_s'], r['startup_s'])} | {div(o['rss_mib'], r['rss_mib'])} |")
    text = "\n".join(lines + ratios) + "\n"
    with open(os.path.join(work, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print()
    print(text)
    print(f"wrote {os.path.join(work, 'results.md')} and results.json")


if __name__ == "__main__":
    main()
