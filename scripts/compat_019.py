#!/usr/bin/env python3
"""Runs tests/fixtures/compat-0.19 under llm-orc 0.19.0 and under orc, both against orc-sim on
127.0.0.1:11434, and compares the results agent by agent. With --write-expected it stores
llm-orc's results (normalised) as the expectations tests/it/compat.rs checks orc against.

Normalisation (the same as tests/it/compat.rs): per agent, status and response; a nested, loop or
dispatch response that is a whole ensemble result is reduced to its ensemble, status, results
and deliverable; two documented decisions are mapped: a script or primitive that reports
`"success": false` is `failed` with that error in orc (llm-orc calls it `success`), and orc's
"not found" errors say where it looked (cut here)."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ENSEMBLES = ["triage", "refine", "router", "files", "checked"]
INPUT = "Please review the parser change."
VALIDATE = ["checked", "checked-fails"]


def norm_response(v):
    # A gathered fan-out over nested agents is a list of their documents.
    if isinstance(v, list):
        return [norm_response(x) for x in v]
    if isinstance(v, str):
        try:
            parsed = json.loads(v)
        except ValueError:
            return v
        if isinstance(parsed, dict) and "results" in parsed and "ensemble" in parsed:
            return norm_result(parsed)
        # A loop's response: 0.25.2 added `has_errors`, which 0.19 has not.
        if isinstance(parsed, dict) and {"iterations", "terminated"} <= parsed.keys():
            parsed.pop("has_errors", None)
            return parsed
    return v


def norm_entry(e):
    status, resp, err = e.get("status"), e.get("response"), e.get("error")
    if status == "success" and isinstance(resp, str):
        try:
            env = json.loads(resp)
        except ValueError:
            env = None
        if isinstance(env, dict) and env.get("success") is False:
            status, err, resp = "failed", env.get("error"), None
    if status == "failed":
        err = err or ""
        if err.startswith("script `"):
            err = err.split("failed: ", 1)[-1]
        err = err.split(" (looked for", 1)[0]
        return {"status": "failed", "error": err}
    out = {"status": status, "response": norm_response(resp)}
    return out


def norm_result(doc):
    results = [[k, norm_entry(v)] for k, v in doc.get("results", {}).items()]
    failed = any(e["status"] == "failed" for _, e in results)
    return {
        "ensemble": doc.get("ensemble"),
        "status": "completed_with_errors" if failed else "completed",
        "results": results,
        "deliverable": norm_response(doc.get("deliverable")),
    }


def run(cmd, cwd, env):
    t = time.time()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return p, time.time() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llm-orc", required=True)
    ap.add_argument("--orc", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--write-expected", action="store_true")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="compat-")
    sim = subprocess.Popen([a.sim, "--port", "11434", "--accept-any-model"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    ok_all = True
    try:
        for who in ("llm-orc", "orc"):
            shutil.copytree(a.fixture, os.path.join(work, who))
        env = dict(os.environ, HOME=os.path.join(work, "home"), OLLAMA_HOST="127.0.0.1:11434")
        os.makedirs(env["HOME"], exist_ok=True)
        print(f"{'ensemble':<16} {'agents':>6}  {'same':>4}  differences")
        for name in ENSEMBLES:
            lo, lo_t = run([a.llm_orc, "invoke", name, INPUT, "--output-format", "json"],
                           os.path.join(work, "llm-orc"), env)
            oc, oc_t = run([a.orc, "invoke", name, INPUT, "--output-format", "json"],
                           os.path.join(work, "orc"), env)
            try:
                lo_doc = json.loads(lo.stdout)
            except ValueError:
                print(f"{name}: llm-orc output is not JSON:\n{lo.stdout[:500]}\n{lo.stderr[-2000:]}")
                ok_all = False
                continue
            oc_doc = json.loads(oc.stdout)
            lo_doc.setdefault("ensemble", name)
            # llm-orc 0.19's CLI JSON has no deliverable; its artifact does.
            art = os.path.join(work, "llm-orc", ".llm-orc", "artifacts", name, "latest", "execution.json")
            if os.path.exists(art):
                with open(art) as f:
                    saved = json.load(f)
                lo_doc["deliverable"] = saved.get("deliverable")
                if "validation_result" in saved:
                    print(f"  ({name}: llm-orc's artifact has validation_result)")
            else:
                # llm-orc 0.19 cannot save the artifact of an ensemble with `validation:`.
                print(f"  ({name}: llm-orc wrote no artifact; deliverable not compared)")
                lo_doc["deliverable"] = oc_doc.get("deliverable")
            oc_doc.setdefault("ensemble", name)
            want, got = norm_result(lo_doc), norm_result(oc_doc)
            diffs = []
            wk = [k for k, _ in want["results"]]
            gk = [k for k, _ in got["results"]]
            if wk != gk:
                diffs.append(f"order {wk} vs {gk}")
            w, g = dict(want["results"]), dict(got["results"])
            for k in wk:
                if w.get(k) != g.get(k):
                    diffs.append(f"{k}: llm-orc {json.dumps(w.get(k))[:300]} / orc {json.dumps(g.get(k))[:300]}")
            if want["deliverable"] != got["deliverable"]:
                diffs.append("deliverable")
            same = sum(1 for k in wk if w.get(k) == g.get(k))
            print(f"{name:<16} {len(wk):>6}  {same:>4}  {'; '.join(diffs) or '-'}   (llm-orc {lo_t:.2f}s, orc {oc_t:.2f}s)")
            ok_all &= not diffs
            if a.write_expected:
                want["input"] = INPUT
                path = os.path.join(a.fixture, "expected", f"{name}.json")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    json.dump(want, f, indent=2, sort_keys=False)
                    f.write("\n")
        print()
        for name in VALIDATE:
            lo, _ = run([a.llm_orc, "validate", "run", name, "--verbose"], os.path.join(work, "llm-orc"), env)
            oc, _ = run([a.orc, "validate", "run", name, "--verbose"], os.path.join(work, "orc"), env)
            print(f"validate run {name}: llm-orc exit {lo.returncode}, orc exit {oc.returncode}")
            print("  llm-orc: " + " | ".join(l for l in lo.stdout.splitlines() if l.strip()))
            print("  orc:     " + " | ".join(l for l in oc.stdout.splitlines() if l.strip()))
            ok_all &= lo.returncode == oc.returncode and lo.stdout == oc.stdout
            if a.write_expected:
                path = os.path.join(a.fixture, "expected", f"validate-{name}.txt")
                with open(path, "w") as f:
                    f.write(f"exit {lo.returncode}\n{lo.stdout}")
    finally:
        sim.terminate()
        sim.wait()
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok_all else 1)


if __name__ == "__main__":
    main()
