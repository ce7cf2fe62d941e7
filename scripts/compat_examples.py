#!/usr/bin/env python3
"""Runs every ensemble of llm-orc's own example project under llm-orc 0.19.0 and under orc, both
against one orc-sim on 127.0.0.1:11434, and compares the results agent by agent with
compat_019.py's normalisation. Prints one row per ensemble: agree / differ / both-fail /
skipped (why), with a one-line reason for each difference and, where one is on record below,
the classification of that difference.

With `--mode 0.25.2` it runs the ensembles llm-orc 0.25.2 ships inside its wheel (its packaged
tier, `--packaged DIR`) from an empty folder: llm-orc finds them in its own package, orc in its
packaged tier pointed at a copy of the same tree (ORC_PACKAGED_DIR), both against one orc-sim
on a free port (its `/v1` for llama-server and openai-compatible profiles, LLAMA_SERVER_URL and
OLLAMA_HOST pointing at it). There an ensemble agrees when the exit codes, every agent's status,
outcome and response (or error), the deliverable and every prompt sent are the same.

Counting. Every `*.yaml` / `*.yml` under `.llm-orc/ensembles/` is a file; symlinks to another
file of the tree are the same file; files with the same `name:` and the same bytes are one
ensemble (llm-orc invokes by name). An ensemble counts when llm-orc itself runs it, that is,
prints a result document for it; the others are listed as `both-fail` (neither runs it) or
`differ` (only orc runs it), never dropped.

Run it with the Python of the llm-orc venv (PyYAML is needed to read names, as llm-orc does).
Never copies llm-orc's files anywhere but a temporary folder."""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compat_019 import norm_result  # noqa: E402  (the same normalisation, one definition)

INPUT = "Please review the parser change."

# Why an ensemble is expected to differ, by ensemble name: (class, reason). Classes: `a` a
# documented orc decision (the docs/llm-orc.md row is named), `c` an llm-orc quirk documented by
# this comparison. Rows here are printed beside the observed difference; a listed ensemble that
# now agrees is reported as stale. Defects (`b`) are fixed, not listed.
COMPOSE_019 = ("0.19.0 composes three inputs unlike 0.25.2 (nested child input, nested "
               "hand-over, fan-out base); orc follows 0.25.2")
EXPECTED = {
    # (c) llm-orc.md row "0.19.0 composes three inputs unlike 0.25.2" (added here)
    "build-gated": ("c", COMPOSE_019),
    "build-gated-round": ("c", COMPOSE_019),
    "build-round": ("c", COMPOSE_019),
    "re-fix": ("c", COMPOSE_019),
    "routing-demo": ("c", COMPOSE_019),
    "fan-out-test": ("c", COMPOSE_019),
    # (a) "unknown `model_profile` fails at run time (then falls back to llama3)"
    "example-local-ensemble": ("a", "unknown model_profile `default`: a compile error in orc; "
                               "llm-orc runs it on llama3"),
    "security-review": ("a", "unknown model_profile `default`: a compile error in orc; llm-orc "
                        "runs it on llama3"),
    "library-ensemble": ("a", "unknown model_profile `standard`: a compile error in orc; "
                         "llm-orc runs it on llama3"),
    "test-script-agents": ("a", "unknown model_profile `default-sonnet`: a compile error in "
                           "orc; llm-orc runs it on llama3"),
    # (a) "an unknown provider falls back at run time when the profile has a fallback"
    "cycle-detection-demo": ("a", "unknown provider whose fallbacks loop with no runnable "
                             "profile: a compile error in orc; a failed agent in llm-orc"),
    # (a) "read_file / write_file reach any path"; the JSON error's wording is a known
    # difference (serde_json's, not Python's), left as it is.
    "validate-error-handling": ("a", "read_file outside the project is refused; json_extract's "
                                "parse error is worded by serde_json, not Python"),
    # (a) "script failures (exit code, timeout, `success: false`) ..."
    "web-searcher": ("a", "a failed script's error also carries stderr's tail (the script "
                     "needs the network)"),
    # (c) llm-orc.md row "a `dispatch:` target that comes out empty" (added here)
    "serving": ("c", "an empty dispatch target is refused before any lookup, not 'not found' "
                "(a build request dispatches build-gated instead and differs as it does)"),
}
# The same for llm-orc 0.25.2's packaged ensembles (`--mode 0.25.2`), from its runs.
NESTED_DOC_025 = ("0.25.2 hands the child of a nested or dispatch dependent the whole result "
                  "JSON (timings included); orc hands every dependent the child's answers")
UNKNOWN_PROVIDER_025 = ("0.25.2 refuses the run (`unknown provider`) where a profile's provider "
                        "is unknown, fallback or not; orc runs the profile's fallback")
OLLAMA_025 = ("0.25.2 knows no `provider: ollama` (its own global template's `micro-local` is "
              "one) and refuses the run; orc speaks Ollama's native API")
CLOUD_FALLBACK_025 = ("0.25.2 refuses a run whose cloud profiles have no credentials, fallback "
                      "or not; orc runs the profiles' local fallback")
VALIDATION_CRASH_025 = ("0.25.2's invoke crashes (a pydantic `dict_type` error) when an agent of "
                        "an ensemble with `validation:` fails; orc reports the run")
EXPECTED_025 = {
    # (a) llm-orc.md row "0.19.0 composes three inputs unlike 0.25.2 ..." (corrected here)
    "build-gated": ("a", NESTED_DOC_025),
    "build-gated-round": ("a", NESTED_DOC_025),
    "build-round": ("a", NESTED_DOC_025),
    "gen-review": ("a", NESTED_DOC_025),
    # (a) "an unknown provider falls back at run time when the profile has a fallback"
    "cascading-fallback-test": ("a", UNKNOWN_PROVIDER_025),
    "test-fallback-display": ("a", UNKNOWN_PROVIDER_025),
    # (a) "runtime fallback always goes to `llama3`"
    "fallback-demo-ensemble": ("a", CLOUD_FALLBACK_025),
    "fallback-scenarios-ensemble": ("a", CLOUD_FALLBACK_025),
    # (a) "0.25.2 reaches Ollama only through `/v1`"
    "fallback-test-ensemble": ("a", OLLAMA_025),
    "parallelism-test-ensemble": ("a", OLLAMA_025),
    "simple-mixed-test": ("a", OLLAMA_025),
    # (c) llm-orc.md row "a `dispatch:` target that comes out empty"
    "serving": ("c", "an empty dispatch target is refused before any lookup, not 'not found'"),
}
for _name in ("validate-conditional-execution", "validate-error-handling",
              "validate-fan-out-fan-in", "validate-file-processing-pipeline", "validate-file-read",
              "validate-multi-step-conversation", "validate-parallel-execution",
              "validate-research-replication", "validate-simple-conversation"):
    EXPECTED_025[_name] = ("c", VALIDATION_CRASH_025)
# (a) Cloud providers: "runtime fallback always goes to `llama3`"; (a) interactive input:
# "interactive primitives read stdin's `input` first". Given by `needs()` below.
NEEDS_WHY = {
    "cloud provider": ("a", "llm-orc answers a cloud agent from llama3 (model_substituted); "
                       "orc fails it: no cloud providers, fallback only where the profile says"),
    "interactive input": ("a", "no terminal: llm-orc takes stdin's EOF as the answer (empty "
                          "text, a confirmation's default `y`); orc answers a first input "
                          "prompt with the input and never passes a confirmation unasked"),
}

NEEDS_WHY_025 = {
    "cloud provider": ("a", "llm-orc 0.25.2 refuses the run without the provider's credentials "
                       "(not_equipped); orc runs it and fails the cloud agent"),
    "interactive input": NEEDS_WHY["interactive input"],
}

# Why an ensemble cannot be compared here although both tools run it (needs things neither can
# have on this machine). Decided from the file, before running.
CLOUD_PROVIDERS = {"anthropic-api", "anthropic-claude-pro-max", "anthropic", "google-gemini",
                   "openai", "claude-cli"}


def load_yaml(path):
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f), None
    except Exception as e:  # noqa: BLE001 (any reader error is a result here)
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def profiles_of(root):
    """Profile name -> profile dict, merged as both tools do for this comparison's purpose
    (config.yaml's model_profiles, then profiles/*.yaml; a later one does not replace)."""
    out = {}
    cfg, _ = load_yaml(os.path.join(root, "config.yaml"))
    for name, p in ((cfg or {}).get("model_profiles") or {}).items():
        out.setdefault(name, p)
    pdir = os.path.join(root, "profiles")
    for fn in sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []:
        doc, _ = load_yaml(os.path.join(pdir, fn))
        if not isinstance(doc, dict):
            continue
        if "model_profiles" in doc:
            for name, p in (doc.get("model_profiles") or {}).items():
                out.setdefault(name, p)
        elif "name" in doc:
            out.setdefault(doc["name"], doc)
    return out


def discover(root):
    """Ensembles of the tree: a list of dicts (name, files, doc, error), by name."""
    ens_dir = os.path.join(root, "ensembles")
    files = []
    for dirpath, _dirs, names in os.walk(ens_dir, followlinks=False):
        for fn in names:
            if fn.endswith((".yaml", ".yml")):
                files.append(os.path.join(dirpath, fn))
    files.sort()
    by_real = {}
    for f in files:
        by_real.setdefault(os.path.realpath(f), []).append(f)
    by_name = {}
    for real, paths in sorted(by_real.items()):
        doc, err = load_yaml(real)
        name = doc.get("name") if isinstance(doc, dict) else None
        if not isinstance(name, str):
            name = os.path.splitext(os.path.basename(real))[0]
        with open(real, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        e = by_name.setdefault(name, {"name": name, "files": [], "digests": set(), "doc": doc,
                                      "error": err})
        e["files"].append(os.path.relpath(real, ens_dir))
        e["digests"].add(digest)
    stats = {"files": len(files), "symlinks": sum(1 for f in files if os.path.islink(f)),
             "distinct_files": len(by_real), "names": len(by_name)}
    return [by_name[k] for k in sorted(by_name)], stats


def needs(ens, profiles):
    """What an ensemble needs that this machine cannot give: a list of words."""
    doc = ens["doc"]
    out = []
    if not isinstance(doc, dict):
        return out
    for a in doc.get("agents") or []:
        if not isinstance(a, dict):
            continue
        p = profiles.get(a.get("model_profile")) if a.get("model_profile") else None
        seen = set()
        # Follow the fallback chain: a cloud profile that falls back to a local one still runs.
        while isinstance(p, dict) and p.get("provider") in CLOUD_PROVIDERS:
            nxt = p.get("fallback_model_profile")
            if not nxt or nxt in seen:
                out.append("cloud provider")
                break
            seen.add(nxt)
            p = profiles.get(nxt)
        if isinstance(a.get("script"), str) and "user-interaction/" in a["script"]:
            out.append("interactive input")
    return sorted(set(out))


def run(cmd, cwd, env, timeout):
    t = time.time()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        return None, f"timed out after {timeout}s", time.time() - t, (e.stderr or b"")
    return p, None, time.time() - t, p.stderr


def parse_doc(p):
    """The result document a run printed: the whole stdout, or (llm-orc with an interactive
    primitive streams events) the `execution_completed` event's data."""
    if p is None:
        return None
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = None
        for line in p.stdout.splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and ev.get("type") == "execution_completed":
                doc = ev.get("data")
    if not isinstance(doc, dict) or "results" not in doc:
        return None
    # llm-orc 0.25.2 (and orc) print an error document when they refuse to run: no results.
    if isinstance(doc.get("error"), dict) and not doc.get("results"):
        return None
    return doc


def last_error(p, timeout_msg):
    if p is None:
        return timeout_msg
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        return str(doc["error"].get("message", ""))[:160]
    text = (p.stderr or "") + "\n" + (p.stdout or "")
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for l in reversed(lines):
        if "rror" in l or "not found" in l.lower() or "invalid" in l.lower():
            return l[:160]
    return (lines[-1][:160] if lines else f"exit {p.returncode}, no output")


def list_runs(art_root, name):
    """Every run folder of ensemble `name` under the artifacts tree (llm-orc puts an ensemble
    of `ensembles/sub/x.yaml` under `artifacts/sub/x/`)."""
    out = []
    for dirpath, dirs, _files in os.walk(art_root):
        if os.path.basename(dirpath) == name:
            out.extend(os.path.join(dirpath, d) for d in dirs if d != "latest")
            dirs.clear()
    return out


def settled_size(path):
    """The request log's size once the server has written what it served (it logs a request
    after its last byte, so the client may exit first)."""
    last = -1
    while True:
        size = file_size(path)
        if size == last:
            return size
        last = size
        time.sleep(0.1)


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def prompt_of(r):
    body = r.get("body") or {}
    msgs = body.get("messages")
    if isinstance(msgs, list):
        return r.get("model", ""), tuple((m.get("role", ""), m.get("content", "")) for m in msgs)
    return r.get("model", ""), (("prompt", body.get("prompt", "")),)


def first_diff(a, b):
    n = min(len(a), len(b))
    i = next((k for k in range(n) if a[k] != b[k]), n)
    return i, a[max(0, i - 20):i + 40], b[max(0, i - 20):i + 40]


T1_HEAD = "Please respond to the following input, taking into account the results"


def pattern(lo_text, oc_text):
    """Names a known difference between 0.19.0's and 0.25.2's (orc's) prompt composition."""
    if '{"ensemble": "' in lo_text and '{"ensemble": "' not in oc_text:
        return "llm-orc hands a dependent a nested agent's whole result JSON"
    if "Original task: \n\nChunk content" in lo_text and "Original task: \n\n" not in oc_text:
        return "0.19 leaves a fan-out instance's `Original task:` empty"
    if lo_text.startswith(T1_HEAD) and not oc_text.startswith(T1_HEAD):
        return "0.19 wraps a nested child's input in the dependency template"
    return None


def system_of(msgs):
    return next((c for r, c in msgs if r == "system"), "")


def prompt_reason(lo_reqs, oc_reqs):
    """How the requests the server saw differ: the first of llm-orc's requests (in arrival
    order) that orc did not send, against orc's request with the same model and system prompt."""
    lo = [prompt_of(r) for r in sorted(lo_reqs, key=lambda r: r.get("seq", 0))]
    oc = [prompt_of(r) for r in sorted(oc_reqs, key=lambda r: r.get("seq", 0))]
    rest_oc = list(oc)
    rest_lo = []
    for p in lo:
        if p in rest_oc:
            rest_oc.remove(p)
        else:
            rest_lo.append(p)
    if not rest_lo and not rest_oc:
        return None
    head = f"model calls {len(lo)} / {len(oc)}, {len(rest_lo)} / {len(rest_oc)} unmatched"
    if not rest_lo:
        m, msgs = rest_oc[0]
        return f"{head}; orc also called {m} (system {system_of(msgs)[:40]!r})"
    m, msgs = rest_lo[0]
    twin = next((q for q in rest_oc if q[0] == m and system_of(q[1]) == system_of(msgs)), None)
    if twin is None:
        return f"{head}; only llm-orc called {m} (system {system_of(msgs)[:40]!r})"
    for (lr, lc), (_, occ) in zip(msgs, twin[1]):
        if lc != occ:
            tag = pattern(lc, occ)
            i, ls, os_ = first_diff(lc, occ)
            what = f"{tag}; " if tag else ""
            return (f"{head}; {what}first: {m} {lr} message at char {i}: llm-orc {ls!r} / "
                    f"orc {os_!r}")
    return f"{head}; {m}: the messages differ in number"


def short_diff(d):
    """One agent's difference in a line: its name and each side's first differing stretch."""
    lo_side = d.split(" / orc ", 1)[0]
    if re.search(r'base_input\\*": \\*"\\*"', lo_side):
        return (d.split(":", 1)[0] + ": 0.19 gives a fan-out script instance an empty "
                "`base_input`")
    name, _, rest = d.partition(": llm-orc ")
    lo, _, oc = rest.partition(" / orc ")
    if not oc:
        return d[:160]
    i, ls, os_ = first_diff(lo, oc)
    return f"{name}: at char {i} llm-orc {ls!r} / orc {os_!r}"


def statuses_of(normed):
    """Each agent's status and outcome (and error): what `agree` means before responses."""
    return [(k, e.get("status"), e.get("outcome"), e.get("error")) for k, e in normed["results"]]


def compare(lo_doc, oc_doc, norm=norm_result):
    want, got = norm(lo_doc), norm(oc_doc)
    diffs = []
    wk = [k for k, _ in want["results"]]
    gk = [k for k, _ in got["results"]]
    if wk != gk:
        diffs.append(f"agents {wk} / {gk}" if sorted(wk) != sorted(gk) else "order of results")
    w, g = dict(want["results"]), dict(got["results"])
    for k in wk:
        if k in g and w[k] != g[k]:
            diffs.append(f"{k}: llm-orc {json.dumps(w[k])} / orc {json.dumps(g[k])}")
    if want["deliverable"] != got["deliverable"]:
        diffs.append("deliverable")
    same = sum(1 for k in wk if w.get(k) == g.get(k))
    return diffs, same, len(wk), statuses_of(want) == statuses_of(got)


def report_of(text):
    """A `validate run --verbose` report from its verdict line on (llm-orc 0.19 prints a
    traceback before it when it cannot save the artifact)."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("Validation ")
                  and "Validating ensemble" not in l), len(lines))
    return [l.rstrip() for l in lines[start:] if l.strip()]


def validate_runs(a, ensembles, work, envs):
    """`validate run NAME --verbose` under both tools for every ensemble with `validation:`.
    Shown for information: not classified, not in the exit code."""
    todo = [e for e in ensembles if isinstance(e["doc"], dict) and "validation" in e["doc"]]
    if not todo:
        return []
    print(f"\n{'validate run':<36} {'llm-orc':<12} {'orc':<12} first differing line")
    out = []
    for ens in todo:
        name = ens["name"]
        res = {}
        for who, exe in (("llm-orc", a.llm_orc), ("orc", a.orc)):
            p, err, _t, _ = run([exe, "validate", "run", name, "--verbose"],
                                os.path.join(work, who), envs[who], a.timeout)
            rep = report_of(p.stdout) if p else [err]
            verdict = rep[0].split()[-1] if rep and rep[0] in ("Validation PASSED",
                                                               "Validation FAILED") else "none"
            res[who] = (p.returncode if p else None, verdict, rep)
        (lc, lv, lr), (oc, ov, orr) = res["llm-orc"], res["orc"]
        diff = next((f"llm-orc {x!r} / orc {y!r}" for x, y in zip(lr, orr) if x != y), "")
        if not diff and len(lr) != len(orr):
            diff = f"{len(lr)} / {len(orr)} lines"
        same = lc == oc and lr == orr
        out.append({"ensemble": name, "llm_orc": [lc, lv], "orc": [oc, ov], "same": same,
                    "llm_orc_report": lr, "orc_report": orr})
        print(f"{name:<36} {lv + ' ' + str(lc):<12} {ov + ' ' + str(oc):<12} "
              f"{'same' if same else diff[:160]}")
    return out


def norm_025(doc):
    """compat_019's normalisation plus each agent's 0.25 `outcome` (skipped_by_failure,
    handled_failure, ...)."""
    out = norm_result(doc)
    raw = doc.get("results") or {}
    for k, e in out["results"]:
        o = (raw.get(k) or {}).get("outcome")
        if o is not None:
            e["outcome"] = o
    return out


def packaged_profiles(tree, global_dir):
    """The profiles the packaged ensembles see: the global tier's, then the packaged tree's
    (config.yaml and profiles/*.yaml), as both tools merge them for this purpose."""
    out = profiles_of(tree)
    for k, v in profiles_of(global_dir).items():
        out.setdefault(k, v)
    return out


def models_of(profiles):
    return sorted({p.get("model") for p in profiles.values()
                   if isinstance(p, dict) and isinstance(p.get("model"), str)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llm-orc", required=True)
    ap.add_argument("--orc", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--python", required=True, help="the interpreter llm-orc runs scripts with")
    ap.add_argument("--project", help="the example project (or its .llm-orc)")
    ap.add_argument("--mode", choices=["0.19", "0.25.2"], default="0.19")
    ap.add_argument("--packaged", help="0.25.2: the packaged tree its wheel ships")
    ap.add_argument("--only", nargs="*", default=[], help="run only these ensembles")
    ap.add_argument("--input", default=INPUT)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--json", help="also write every row here")
    ap.add_argument("--verbose", action="store_true", help="show every difference in full")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work folder (both projects, the server's request log)")
    a = ap.parse_args()
    for k in ("llm_orc", "orc", "sim", "python"):
        setattr(a, k, os.path.abspath(getattr(a, k)))

    v025 = a.mode == "0.25.2"
    work = tempfile.mkdtemp(prefix="compat-examples-")
    if v025:
        if not a.packaged or not os.path.isdir(os.path.join(a.packaged, "ensembles")):
            sys.exit(f"no ensembles folder under --packaged {a.packaged}")
        src = a.packaged.rstrip("/")
        # llm-orc fills an empty global folder with its templates on first use; orc reads the
        # same global tier, so it gets a copy.
        homes = {who: os.path.join(work, "home-" + who) for who in ("llm-orc", "orc")}
        for h in homes.values():
            os.makedirs(h)
        first = os.path.join(work, "first-run")
        os.makedirs(first)
        subprocess.run([a.llm_orc, "list-ensembles"], cwd=first, capture_output=True,
                       env=dict(os.environ, HOME=homes["llm-orc"]), timeout=a.timeout)
        lo_global = os.path.join(homes["llm-orc"], ".config", "llm-orc")
        if os.path.isdir(lo_global):
            shutil.copytree(lo_global, os.path.join(homes["orc"], ".config", "llm-orc"))
        profiles = packaged_profiles(src, lo_global)
    else:
        if not a.project:
            sys.exit("--project is needed with --mode 0.19")
        src = a.project.rstrip("/")
        if os.path.basename(src) != ".llm-orc":
            src = os.path.join(src, ".llm-orc")
        if not os.path.isdir(os.path.join(src, "ensembles")):
            sys.exit(f"no ensembles folder under {src}")
        profiles = profiles_of(src)
    ensembles, stats = discover(src)
    if a.only:
        ensembles = [e for e in ensembles if e["name"] in a.only]

    log_path = os.path.join(work, "sim.jsonl")
    open(log_path, "w").close()
    port_file = os.path.join(work, "sim.port")
    # llm-orc 0.19 always calls 11434; 0.25.2 is told where the server is.
    sim_cmd = [a.sim, "--port", "0" if v025 else "11434", "--accept-any-model", "--log",
               log_path, "--port-file", port_file]
    if v025:
        # llm-orc 0.25.2 asks the server for its models before a run.
        sim_cmd += ["--models", ",".join(models_of(profiles))]
    sim = subprocess.Popen(sim_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows, vrows = [], []
    try:
        # Our simulator writes the port file once it listens; one that cannot bind exits.
        deadline = time.time() + 10
        while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
            if sim.poll() is not None or time.time() > deadline:
                sys.exit("orc-sim did not start (is port 11434 free?)")
            time.sleep(0.05)
        with open(port_file) as f:
            port = f.read().strip()
        host = f"127.0.0.1:{port}"
        envs = {}
        for who in ("llm-orc", "orc"):
            os.makedirs(os.path.join(work, who))
            if v025:
                home = homes[who]
            else:
                shutil.copytree(src, os.path.join(work, who, ".llm-orc"), symlinks=True)
                home = os.path.join(work, "home-" + who)
                os.makedirs(home)
            envs[who] = dict(os.environ, HOME=home, OLLAMA_HOST=host,
                             ORC_PYTHON=a.python, NO_COLOR="1", PYTHONUNBUFFERED="1")
            envs[who].pop("RUST_LOG", None)
            if v025:
                envs[who]["LLAMA_SERVER_URL"] = f"http://{host}/v1"
        if v025:
            # orc's packaged tier is a copy of the same tree (never the venv's own files).
            mine = os.path.join(work, "packaged")
            shutil.copytree(src, mine, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
            envs["orc"]["ORC_PACKAGED_DIR"] = mine
        print(f"{stats['files']} files ({stats['symlinks']} symlinks), {stats['distinct_files']} "
              f"distinct files, {stats['names']} ensemble names; input {a.input!r}\n")
        print(f"{'ensemble':<36} {'outcome':<10} {'agents':>6} {'same':>4}  reason")
        for ens in ensembles:
            name = ens["name"]
            row = {"ensemble": name, "files": ens["files"], "needs": needs(ens, profiles)}
            if len(ens["digests"]) > 1:
                row["note"] = "files with this name differ"
            art_root = os.path.join(work, "llm-orc", ".llm-orc", "artifacts")
            before = set(list_runs(art_root, name))
            offs = file_size(log_path)
            lo, lo_err, lo_t, _ = run([a.llm_orc, "invoke", name, a.input, "--output-format",
                                       "json"], os.path.join(work, "llm-orc"), envs["llm-orc"],
                                      a.timeout)
            mid = settled_size(log_path)
            oc, oc_err, oc_t, _ = run([a.orc, "invoke", name, a.input, "--output-format", "json"],
                                      os.path.join(work, "orc"), envs["orc"], a.timeout)
            end = settled_size(log_path)
            with open(log_path, "rb") as f:
                f.seek(offs)
                lo_reqs = [json.loads(l) for l in f.read(mid - offs).splitlines() if l.strip()]
                oc_reqs = [json.loads(l) for l in f.read(end - mid).splitlines() if l.strip()]
            lo_doc, oc_doc = parse_doc(lo), parse_doc(oc)
            row.update(llm_orc_s=round(lo_t, 2), orc_s=round(oc_t, 2),
                       llm_orc_calls=len(lo_reqs), orc_calls=len(oc_reqs))
            if lo_doc is None and oc_doc is None:
                row.update(outcome="both-fail", agents=0, same=0,
                           reason=f"llm-orc: {last_error(lo, lo_err)} | orc: {last_error(oc, oc_err)}")
            elif lo_doc is None:
                row.update(outcome="differ", agents=0, same=0, runs_in_llm_orc=False,
                           reason=f"only orc runs it; llm-orc: {last_error(lo, lo_err)}")
            elif oc_doc is None:
                row.update(outcome="differ", agents=len(lo_doc.get("results") or {}), same=0,
                           reason=f"only llm-orc runs it; orc: {last_error(oc, oc_err)}")
            else:
                lo_doc.setdefault("ensemble", name)
                oc_doc.setdefault("ensemble", name)
                # llm-orc 0.19's CLI JSON has no deliverable; its artifact does.
                saved = None
                fresh = sorted(set(list_runs(art_root, name)) - before)
                if fresh:
                    try:
                        with open(os.path.join(fresh[-1], "execution.json"),
                                  encoding="utf-8") as f:
                            saved = json.load(f)
                    except (OSError, ValueError):
                        saved = None
                if saved is not None:
                    lo_doc["deliverable"] = saved.get("deliverable")
                elif "deliverable" not in lo_doc:
                    lo_doc["deliverable"] = oc_doc.get("deliverable")
                    row["note"] = "llm-orc wrote no artifact; deliverable not compared"
                diffs, same, n, same_status = compare(lo_doc, oc_doc,
                                                      norm_025 if v025 else norm_result)
                row.update(agents=n, same=same)
                if v025:
                    # 0.25.2: the exit code and every prompt count too.
                    if lo.returncode != oc.returncode:
                        diffs.insert(0, f"exit code llm-orc {lo.returncode} / orc {oc.returncode}")
                    same_prompts = prompt_reason(lo_reqs, oc_reqs) is None
                    if not same_prompts and not diffs:
                        diffs.append("the prompts sent differ")
                    row["same_except_responses"] = (lo.returncode == oc.returncode
                                                    and same_status and same_prompts)
                if diffs:
                    pr = prompt_reason(lo_reqs, oc_reqs)
                    row.update(outcome="differ", reason=(pr + "; " if pr else "") +
                               short_diff(diffs[0]), diffs=diffs, prompts=pr)
                else:
                    row.update(outcome="agree", reason="")
            if row["outcome"] != "agree" and row["needs"]:
                row["outcome"] = "skipped"
                row["reason"] = "needs " + ", ".join(row["needs"]) + "; " + row["reason"]
            known = (EXPECTED_025 if v025 else EXPECTED).get(name)
            if known is None and row["outcome"] == "skipped":
                known = (NEEDS_WHY_025 if v025 else NEEDS_WHY)[row["needs"][0]]
            if known and row["outcome"] in ("differ", "skipped"):
                row["class"], row["why"] = known
            elif known:
                row["stale"] = f"listed as ({known[0]}) {known[1]} but now {row['outcome']}"
            rows.append(row)
            reason = row["reason"] if a.verbose else row["reason"][:200]
            print(f"{name:<36} {row['outcome']:<10} {row['agents']:>6} {row['same']:>4}  {reason}")
            if "why" in row:
                print(f"{'':<36} ({row['class']}) {row['why']}")
            if "stale" in row:
                print(f"{'':<36} note: {row['stale']}")
            if a.verbose:
                for d in row.get("diffs", [])[1:]:
                    print(f"{'':<36}   {d}")
        vrows = validate_runs(a, ensembles, work, envs)
    finally:
        sim.terminate()
        sim.wait()
        if a.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    counted = [r for r in rows if r["outcome"] != "both-fail" and r.get("runs_in_llm_orc", True)]
    tally = {}
    for r in rows:
        tally[r["outcome"]] = tally.get(r["outcome"], 0) + 1
    print()
    print(f"ensembles: {len(rows)}; llm-orc runs {len(counted)}; "
          + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
    if v025:
        core = sum(1 for r in counted if r.get("same_except_responses"))
        print(f"agree on exit code, every agent's status and outcome and every prompt: {core} "
              f"of {len(counted)}; with every response too: {tally.get('agree', 0)}")
    unexplained = [r["ensemble"] for r in rows if r["outcome"] == "differ" and "why" not in r]
    if unexplained:
        print("differences without a classification: " + ", ".join(unexplained))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"stats": stats, "input": a.input, "rows": rows, "validate_run": vrows},
                      f, indent=2)
    sys.exit(1 if unexplained else 0)


if __name__ == "__main__":
    main()
