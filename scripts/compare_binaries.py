#!/usr/bin/env python3
"""What a user sees, compared between two builds of orc: CLI stdout, stderr and exit codes, the
artifacts runs write, and every MCP tool's reply over stdio, for one fixed set of commands over
the Ollama simulator. The old build runs twice, so anything that differs between two runs of the
same binary (times, ids) is reported as noise, not as a change.

Usage: scripts/compare-binaries OLD_DIR NEW_DIR   (each holding `orc`; OLD_DIR also `orc-sim`)
Exit 0 when nothing a user sees changed, 1 otherwise (the differences are printed)."""
import difflib, json, os, re, shutil, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TASK = "Summarise the attached notes in three bullet points"
CLI = [
    ["--help"], ["--version"], ["invoke", "--help"], ["validate", "--help"], ["mcp", "--help"],
    ["list-ensembles"], ["list-ensembles", "--format", "json"], ["list-profiles"],
    ["list-profiles", "--format", "json"], ["validate", "--all"], ["validate", "--all", "--format", "json"],
    ["validate", "swarm-review", "--runnable"], ["config", "check"], ["config", "check", "--format", "json"],
    ["graph", "swarm-review"], ["graph", "swarm-review", "--format", "json"],
    ["graph", "fan-in-review", "--format", "dot"], ["graph", "composable-report", "--full"],
    ["hosts"], ["hosts", "--format", "json"],
    ["invoke", "fan-in-review", "Rust is a systems language."],
    ["invoke", "sequential-draft", "a short note", "--format", "json"],
    ["invoke", "fan-out-paragraphs", "one\n\ntwo\n\nthree", "--format", "text"],
    ["invoke", "composable-report", "topic"],
    ["invoke", "no-such-ensemble", "x"],
    ["invoke", "fan-in-review", "x", "--checks"],
    ["report", "timeline", "latest"],
    ["route", TASK], ["route", TASK, "--format", "json"],
    ["route", "Refactor the authentication module across the codebase and fix the race"],
    ["record-claude-task", TASK, "--input-tokens", "1200", "--output-tokens", "300"],
    ["report", "learning"], ["report", "learning", "--format", "json"],
    ["routing", "history"], ["learn"],
    ["export", "sft"], ["export", "judge"],
    ["library", "info"], ["library", "browse"], ["library", "search", "review"],
    ["deps", "swarm-review"], ["promote", "fan-in-review", "--check"],
    ["promote", "fan-in-review", "--to", "global", "--dry-run"],
    ["demote", "fan-in-review", "--from", "global"],
    ["status"], ["status", "--format", "json"], ["status", "--hook"],
    ["completions", "bash"], ["man"],
    ["config", "init", "--project-name", "fresh"],
    ["no-such-command"], ["invoke"],
]

BAD_YAML = "name: broken\nagents:\n  - name: a\n    model_profile: nope\n    depends_on: [b]\n  - name: b\n    depends_on: [a]\n"


def mcp_calls():
    return [
        ("set_project", {"path": "[PROJ]"}),
        ("list_ensembles", {}), ("validate_ensemble", {"ensemble_name": "swarm-review"}),
        ("validate_ensemble", {"ensemble_name": "broken"}),
        ("check_ensemble_runnable", {"ensemble_name": "fan-in-review"}),
        ("list_profiles", {}), ("list_scripts", {}), ("list_dependencies", {"ensemble_name": "swarm-review"}),
        ("get_provider_status", {}), ("get_help", {}), ("library_info", {}), ("library_browse", {"browse_type": "ensembles"}),
        ("library_search", {"query": "review"}),
        ("invoke", {"ensemble_name": "fan-in-review", "input_data": "Rust is a systems language."}),
        ("invoke", {"ensemble_name": "fan-in-review", "input_data": "x", "detail": "agents"}),
        ("invoke", {"ensemble_name": "sequential-draft", "input_data": "x", "detail": "full"}),
        ("analyze_execution", {"artifact_id": "latest"}),
        ("route_task", {"task": TASK}),
        ("record_claude_task", {"task": TASK, "input_tokens": 1000, "output_tokens": 200}),
        ("learning_report", {}), ("learning_report", {"format": "text"}), ("routing_history", {}),
        ("learn_routing", {}), ("export_training_data", {"kind": "sft"}),
        ("check_promotion_readiness", {"ensemble_name": "fan-in-review", "destination": "global"}),
        ("demote_ensemble", {"ensemble_name": "fan-in-review", "tier": "global"}),
        ("library_copy", {"source": "no/such"}),
        ("update_ensemble", {"ensemble_name": "fan-in-review", "changes": {"description": "x"}, "dry_run": True}),
        ("update_profile", {"name": "no-such", "changes": {"model": "m"}}),
        ("get_script", {"name": "word_count", "category": "x"}),
        ("create_script", {"name": "s-new", "category": "c", "template": "basic"}),
        ("delete_script", {"name": "s-new", "category": "c", "confirm": True}),
        ("delete_artifact", {"artifact_id": "no-such/x", "confirm": True}),
        ("rollback_routing", {"version": 99}),
        ("should_evaluate", {"routing_id": "no-such"}),
        ("record_feedback", {"routing_id": "no-such", "accepted": True}),
        ("judge_locally", {"routing_id": "no-such", "profile": "x"}),
        ("run_status", {"run_id": "no-such"}),
        ("promote_ensemble", {"ensemble_name": "fan-in-review", "destination": "global", "dry_run": True}),
        ("create_profile", {"name": "p-new", "provider": "ollama", "model": "llama3"}),
        ("create_ensemble", {"name": "e-new", "description": "d", "agents": [{"name": "a", "model_profile": "p-new"}]}),
        ("delete_ensemble", {"ensemble_name": "e-new", "confirm": True}),
        ("delete_profile", {"name": "p-new", "confirm": True}),
        ("cleanup_artifacts", {"older_than_days": 30, "dry_run": True}),
        ("no_such_tool", {}),
    ]


def redact(text, root, port):
    text = text.replace(os.path.realpath(root), "[ROOT]").replace(root, "[ROOT]")
    text = text.replace(str(port), "[PORT]")
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", "[TIME]", text)
    text = re.sub(r"\d{4}-\d\d-\d\d[ _-]\d\d[:-]?\d\d[:-]?\d\d(\.\d+)?", "[TIME]", text)
    # Measured times: JSON fields of milliseconds or seconds, and durations in text.
    text = re.sub(r'(\\?"[a-z_]*(_ms|_s|_secs|_seconds|duration|elapsed|_at|_time|timestamp)[a-z_]*\\?": )-?[0-9.e+-]+',
                  r"\1[N]", text)
    text = re.sub(r"\b\d+(\.\d+)?\s?(ms|s)\b", "[DUR]", text)
    text = re.sub(r"\b\d{8}-\d{6}-\d{3}\b", "[RUN]", text)
    text = re.sub(r'\b(x|x1|x2|width)="[0-9.]+"', r'\1="[N]"', text)
    return text


def project(tmp):
    root = os.path.join(tmp, "proj")
    llm = os.path.join(root, ".llm-orc")
    os.makedirs(os.path.join(tmp, "home"))
    shutil.copytree(os.path.join(REPO, "ensembles"), os.path.join(llm, "ensembles"), ignore=shutil.ignore_patterns("scripts"))
    shutil.copytree(os.path.join(REPO, "profiles"), os.path.join(llm, "profiles"))
    shutil.copytree(os.path.join(REPO, "ensembles", "scripts"), os.path.join(llm, "scripts"))
    shutil.copy(os.path.join(REPO, ".llm-orc", "config.yaml"), os.path.join(llm, "config.yaml"))
    with open(os.path.join(llm, "ensembles", "broken.yaml"), "w") as f:
        f.write(BAD_YAML)
    return root


def env(tmp, port):
    return {"PATH": os.environ["PATH"], "HOME": os.path.join(tmp, "home"), "OLLAMA_HOST": f"127.0.0.1:{port}",
            "NO_COLOR": "1", "LANG": "C.UTF-8", "TERM": "dumb"}


def artifacts(root):
    out = {}
    base = os.path.join(root, ".llm-orc", "artifacts")
    for d, _, names in sorted(os.walk(base)):
        for n in sorted(names):
            if n == "execution.json":
                p = os.path.join(d, n)
                ens = os.path.relpath(p, base).split(os.sep)[0]
                out.setdefault(ens, []).append(skeleton(json.load(open(p), object_pairs_hook=list)))
    return {k: "\n".join(sorted(set(sum(v, [])))) for k, v in out.items()}


def skeleton(doc, path="$"):
    """An artifact's shape: every key path in its order with its value's type. A run's events come
    in the order its agents finish and its figures are measured, so values are not compared."""
    if isinstance(doc, list) and doc and isinstance(doc[0], tuple):
        lines = [f"{path} {{{', '.join(k for k, _ in doc)}}}"]
        for k, v in doc:
            lines += skeleton(v, f"{path}.{k}")
        return lines
    if isinstance(doc, list):
        return [line for item in doc for line in skeleton(item, path + "[]")] or [path + " []"]
    return [f"{path}: {type(doc).__name__}"]


def mcp(binary, root, e):
    p = subprocess.Popen([binary, "mcp", "serve", "--all-tools"], cwd=root, env=e, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    replies = {}

    def ask(i, method, params):
        p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n")
        p.stdin.flush()
        while True:
            line = p.stdout.readline()
            if not line:
                return None
            msg = json.loads(line)
            if msg.get("id") == i:
                return msg

    ask(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                          "clientInfo": {"name": "compare", "version": "1"}})
    p.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
    p.stdin.flush()
    replies["tools/list"] = json.dumps(ask(1, "tools/list", {}), indent=1)
    for i, (name, args) in enumerate(mcp_calls(), start=2):
        args = json.loads(json.dumps(args).replace("[PROJ]", root))
        r = ask(i, "tools/call", {"name": name, "arguments": args})
        replies[f"{i:02} {name} {json.dumps(args)}"] = json.dumps(r, indent=1)
    p.stdin.close()
    p.wait(timeout=30)
    return replies


def observe(bindir, port):
    tmp = tempfile.mkdtemp(prefix="orc-compare-")
    root = project(tmp)
    e = env(tmp, port)
    orc = os.path.join(bindir, "orc")
    seen = {}
    for args in CLI:
        r = subprocess.run([orc, *args], cwd=root, env=e, capture_output=True, text=True, timeout=120)
        seen["cli " + " ".join(args)] = f"exit {r.returncode}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"
    for k, v in artifacts(root).items():
        seen["artifacts " + k] = v
    for k, v in mcp(orc, root, e).items():
        seen["mcp " + k] = v
    seen = {redact(k, tmp, port): redact(v, tmp, port) for k, v in seen.items()}
    shutil.rmtree(tmp)
    return seen


def main():
    old, new = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="orc-sim-")
    port_file = os.path.join(tmp, "port")
    sim = subprocess.Popen([os.path.join(old, "orc-sim"), "--port", "0", "--port-file", port_file,
                            "--accept-any-model"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if sim.poll() is not None:
                sys.exit("orc-sim exited")
            time.sleep(0.05)
        port = int(open(port_file).read().strip())
        a, b, c = observe(old, port), observe(old, port), observe(new, port)
    finally:
        sim.kill()
    changed = noisy = 0
    skipped = []
    for key in a:
        if a[key] != b.get(key):
            noisy += 1
            if a[key] == c.get(key) or b.get(key) == c.get(key):
                continue
            if len(a[key].splitlines()) != len(b[key].splitlines()):
                skipped.append(key)  # not even the same shape twice: nothing to compare
                continue
            if len(a[key].splitlines()) == len(c.get(key, "").splitlines()):
                # Same shape: only the lines stable across the two old runs count.
                stable = [i for i, (x, y) in enumerate(zip(a[key].splitlines(), b[key].splitlines())) if x == y]
                la, lc = a[key].splitlines(), c[key].splitlines()
                if all(la[i] == lc[i] for i in stable):
                    continue
        elif a[key] == c.get(key):
            continue
        changed += 1
        print(f"=== CHANGED: {key}")
        sys.stdout.writelines(difflib.unified_diff(a[key].splitlines(True), c.get(key, "").splitlines(True),
                                                   "old", "new", n=2))
    for key in c:
        if key not in a:
            changed += 1
            print(f"=== NEW ONLY: {key}")
    for key in skipped:
        print(f"=== NOT COMPARABLE (two old runs differ in shape): {key}")
    print(f"{len(a)} observations, {noisy} differ between two runs of the old build (noise), "
          f"{changed} changed in the new build")
    sys.exit(1 if changed else 0)


main()
