#!/usr/bin/env python3
"""Many hosts and residency, measured with the real binaries (run by scripts/hosts-bench).

Standard library only. Every simulator is a separate orc-sim process on 127.0.0.1 (port 0,
read back from --port-file), with a fixed latency so the ideal makespan is known:
S = ttft + tokens x tok per request, `parallel` requests at once per model and host.

  throughput  the 128-wide fan-in (128 x tiny -> 1 x small) on 1, 2 and 4 hosts:
              ideal = (ceil(128 / (hosts x parallel)) + 1) x S
  lose-one    the same on 4 hosts, one host SIGKILLed once it has requests in flight:
              makespan against the run without a loss; every agent must still succeed
  residency   one host holding one model (--max-loaded 1 --load-ms L), the 32 -> 4 -> 1 swarm
              (extractors on model A, analysers and synthesiser on model B): loads per run and
              makespan of orc and, when given, llm-orc; ideal = 2 x L + (8 + 1 + 1) x S
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
import tempfile
import time
import urllib.request

TINY, SMALL = "qwen3:0.6b", "gemma3:1b"


def agent(name, profile, deps=None):
    s = f"  - name: {name}\n    model_profile: {profile}\n    system_prompt: \"[{name}] Do your part.\"\n"
    if deps:
        s += "    depends_on: [" + ", ".join(deps) + "]\n"
    return s


def wide():
    body = "".join(agent(f"w{i:03}", "tiny") for i in range(128))
    body += agent("synthesizer", "small", [f"w{i:03}" for i in range(128)])
    return "name: wide\ndescription: \"128 -> 1\"\nagents:\n" + body


def swarm():
    body = "".join(agent(f"extractor-{i:02}", "tiny") for i in range(32))
    body += "".join(agent(f"analyser-{g}", "small", [f"extractor-{i:02}" for i in range(g * 8, g * 8 + 8)])
                    for g in range(4))
    body += agent("synthesizer", "small", [f"analyser-{g}" for g in range(4)])
    return "name: swarm\ndescription: \"32 -> 4 -> 1, two models\"\nagents:\n" + body


class Sim:
    def __init__(self, binary, work, args):
        self.portfile = tempfile.mktemp(dir=work, prefix="port-")
        self.proc = subprocess.Popen([binary, "--port", "0", "--port-file", self.portfile] + args,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not (os.path.exists(self.portfile) and open(self.portfile).read().strip()):
            if time.time() > deadline:
                sys.exit("orc-sim did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{open(self.portfile).read().strip()}"

    def stats(self):
        with urllib.request.urlopen(self.url + "/_sim/stats", timeout=5) as r:
            return json.load(r)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def project(work, name, text, config):
    root = os.path.join(work, name)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, ".llm-orc", "ensembles"))
    with open(os.path.join(root, ".llm-orc", "ensembles", name + ".yaml"), "w") as f:
        f.write(text)
    with open(os.path.join(root, ".llm-orc", "config.yaml"), "w") as f:
        f.write(config)
    return root


def orc_config(hosts, slots, extra=""):
    profiles = "".join(f"  {n}:\n    model: {m}\n    provider: ollama\n    timeout_seconds: 300\n"
                       for n, m in (("tiny", TINY), ("small", SMALL)))
    return (f"performance:\n  concurrency:\n    max_concurrent_agents: 0\n    per_model_limit: {slots}\n"
            f"model_profiles:\n{profiles}hosts:\n" + "".join(f"  - {h}\n" for h in hosts) + extra)


def env_of(root):
    env = dict(os.environ)
    for k in ("OLLAMA_HOST", "OLLAMA_HOSTS", "XDG_CONFIG_HOME", "LLM_ORC_LIBRARY_PATH", "RUST_LOG"):
        env.pop(k, None)
    env["HOME"] = root
    return env


def run(cmd, root, during=None):
    t0 = time.time()
    p = subprocess.Popen(cmd, cwd=root, env=env_of(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if during:
        during()
    out, err = p.communicate()
    wall = time.time() - t0
    ok = total = 0
    try:
        doc = json.loads(out)
        for k, v in doc.get("results", {}).items():
            total += 1
            ok += v.get("status") == "success"
    except ValueError:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    return wall, ok, total


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orc", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--llm-orc", default="")
    ap.add_argument("--work", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ttft-ms", type=float, default=50)
    ap.add_argument("--tok-ms", type=float, default=5)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--load-ms", type=float, default=500)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    S = (a.ttft_ms + a.tokens * a.tok_ms) / 1000
    lat = ["--ttft-ms", str(a.ttft_ms), "--tok-ms", str(a.tok_ms), "--tokens", str(a.tokens),
           "--parallel", str(a.parallel)]
    lines = [f"latency: ttft {a.ttft_ms:g} ms, {a.tok_ms:g} ms x {a.tokens} tokens "
             f"(S = {S:.3f} s), parallel {a.parallel} per model and host; median of {a.reps}", ""]

    # Throughput on 1, 2, 4 hosts.
    lines += ["| hosts | makespan s | ideal s | vs ideal | speed-up vs 1 host | ok |", "|---|---|---|---|---|---|"]
    base = None
    for n in (1, 2, 4):
        sims = [Sim(a.sim, a.work, lat) for _ in range(n)]
        root = project(a.work, "wide", wide(), orc_config([s.url for s in sims], a.parallel))
        runs = [run([a.orc, "invoke", "wide", "go", "--output-format", "json"], root) for _ in range(a.reps)]
        for s in sims:
            s.stop()
        wall = med([r[0] for r in runs])
        ideal = (math.ceil(128 / (n * a.parallel)) + 1) * S
        base = base or wall
        oks = min(r[1] for r in runs)
        lines.append(f"| {n} | {wall:.3f} | {ideal:.3f} | {wall / ideal:.3f} | {base / wall:.2f}x | {oks}/129 |")
        print(lines[-1], flush=True)
    if True:
        no_loss = wall

    # Losing one host of four mid-run.
    lost = []
    for _ in range(a.reps):
        sims = [Sim(a.sim, a.work, lat) for _ in range(4)]
        root = project(a.work, "wide", wide(), orc_config([s.url for s in sims], a.parallel))

        def kill_when_busy(victim=sims[3]):
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    if victim.stats()["in_flight"] > 0:
                        break
                except OSError:
                    pass
                time.sleep(0.005)
            victim.stop()

        lost.append(run([a.orc, "invoke", "wide", "go", "--output-format", "json"], root, kill_when_busy))
        for s in sims:
            s.stop()
    lw = med([r[0] for r in lost])
    lines += ["", "| 4 hosts, one killed mid-run | makespan s | vs no loss | ok |", "|---|---|---|---|",
              f"| median of {a.reps} | {lw:.3f} | {lw / no_loss:.2f}x ({no_loss:.3f} s) | "
              f"{min(r[1] for r in lost)}/129 |"]
    print(lines[-1], flush=True)

    # Residency: one model at a time.
    res = ["--max-loaded", "1", "--load-ms", str(a.load_ms)]
    ideal = 2 * a.load_ms / 1000 + (math.ceil(32 / a.parallel) + 1 + 1) * S
    lines += ["", f"residency: --max-loaded 1 --load-ms {a.load_ms:g}; ideal with the minimum 2 loads = {ideal:.3f} s",
              "", "| tool | loads per run | makespan s | vs ideal | ok |", "|---|---|---|---|---|"]
    tools = [("orc", None)]
    if a.llm_orc:
        tools.append(("llm-orc 0.25.2", a.llm_orc))
    for name, binary in tools:
        sim = Sim(a.sim, a.work, lat + res)
        if binary is None:
            cfg = orc_config([f"{{url: {sim.url}, max_loaded_models: 1}}"], a.parallel)
            cmd = [a.orc, "invoke", "swarm", "go", "--output-format", "json"]
        else:
            profiles = "".join(
                f"  {n}:\n    model: {m}\n    provider: openai-compatible\n    base_url: {sim.url}/v1\n"
                f"    cost_per_token: 0.0\n    timeout_seconds: 300\n" for n, m in (("tiny", TINY), ("small", SMALL)))
            cfg = f"project:\n  name: bench\nmodel_profiles:\n{profiles}"
            cmd = [binary, "invoke", "swarm", "go", "--output-format", "json"]
        root = project(a.work, "swarm", swarm(), cfg)
        loads, walls, oks = [], [], []
        for _ in range(a.reps):
            before = sim.stats()["loads"]
            w, ok, _ = run(cmd, root)
            loads.append(sim.stats()["loads"] - before)
            walls.append(w)
            oks.append(ok)
        sim.stop()
        wall = med(walls)
        lines.append(f"| {name} | {', '.join(map(str, loads))} | {wall:.3f} | {wall / ideal:.3f} | {min(oks)}/37 |")
        print(lines[-1], flush=True)

    with open(os.path.join(a.work, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
