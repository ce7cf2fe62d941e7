#!/usr/bin/env python3
"""Compares two sets of captured execution.json files (issue 26: ExecutionDoc writes the bytes
the hand-built JSON wrote).

Capture: add, temporarily, at the end of `store::artifact::write` (before `Ok(Written {`):

    if let Ok(cap) = std::env::var("ORC_CAPTURE_EXEC") {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = fs::copy(&json, std::path::Path::new(&cap)
            .join(format!("{}-{}.json", std::process::id(), n)));
    }

build the test binaries once with the old code and once with the new, run each set with
ORC_CAPTURE_EXEC=<dir>, then: `compare-execution-json.py OLD_DIR NEW_DIR [N]` (N: how many
differing documents to show).

Timestamps, durations, CPU and memory figures, temporary paths and ports are redacted; maps
whose order is the order agents finished (usage.agents, inputs, notes, results of concurrent
runs) and run-ordered lists (timeline, reused, ...) are compared as sets. Every object's key
sequence (the order serde writes the fields in) is compared exactly, nested documents
(a nested agent's response) included.
"""
import json, os, re, sys, collections, difflib
MAPLIKE = {'agents', 'inputs', 'notes', 'fan_out', 'counts_invalid', 'results'}
SORTLIST = {'timeline', 'reused', 'cached', 'auxiliary_calls', 'execution_order', 'hosts', 'models_loaded', 'skipped', 'estimated', 'resource_metrics'}
TIMEKEY = re.compile(r'(_ms|_ns|_time|_at|_seconds|cpu|memory|duration|timestamp|_samples)$|^(duration_ms|service_ms|cpu_percent|memory_percent)$')
def red(v, key=None):
    if isinstance(v, dict):
        items = [(k, red(x, k)) for k, x in v.items()]
        if key in MAPLIKE:
            items.sort(key=lambda kv: kv[0])
        return dict(items)
    if isinstance(v, list):
        xs = [red(x, key) for x in v]
        if key in SORTLIST:
            xs.sort(key=lambda x: json.dumps(x, sort_keys=True))
        return xs
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return 0 if (key and TIMEKEY.search(key)) or key in ('served','in_flight','attempts','avg_cpu','peak_cpu','avg_memory','peak_memory') else v
    if isinstance(v, str):
        if key and TIMEKEY.search(key): return 'T'
        if v.startswith('{') and '"ensemble"' in v:
            try: return 'JSON:' + json.dumps(red(json.loads(v)), ensure_ascii=True)
            except Exception: pass
        v = re.sub(r'/tmp/[A-Za-z0-9_.\-/]+', '/TMP', v)
        v = re.sub(r'(127\.0\.0\.1|localhost):\d+', 'HOST:PORT', v)
        v = re.sub(r'\d+(\.\d+)?\s*(ms|s)\b', 'N', v)
        return v
    return v
def shapes(v, key=None, out=None):
    # key sequences of struct-like objects, sorted sets for map-like ones
    if out is None: out = collections.Counter()
    if isinstance(v, dict):
        ks = ('MAP',) if key in MAPLIKE else tuple(v)
        out[(key, ks)] += 1
        for k, x in v.items(): shapes(x, '*' if key in MAPLIKE else k, out)
    elif isinstance(v, list):
        for x in v: shapes(x, key, out)
    elif isinstance(v, str) and v.startswith('{') and '"ensemble"' in v:
        try: shapes(json.loads(v), None, out)
        except Exception: pass
    return out
def load(d):
    docs = collections.Counter(); sh = collections.Counter()
    for f in sorted(os.listdir(d)):
        doc = json.loads(open(os.path.join(d, f)).read())
        docs[json.dumps(red(doc), indent=1, ensure_ascii=True)] += 1
        sh.update(shapes(doc))
    return docs, sh
a, sa = load(sys.argv[1]); b, sb = load(sys.argv[2])
print('docs', sum(a.values()), sum(b.values()), 'differing base/new:', sum((a-b).values()), sum((b-a).values()))
print('object key sequences: distinct', len(sa), len(sb), ' only base:', [k for k in sa if k not in sb][:5], ' only new:', [k for k in sb if k not in sa][:5])
oa = list((a-b).elements()); ob = list((b-a).elements())
for x in oa[:int(sys.argv[3]) if len(sys.argv)>3 else 0]:
    best = min(ob, key=lambda y: sum(1 for _ in difflib.unified_diff(x.split('\n'), y.split('\n'), n=0))) if ob else ''
    print('\n'.join(list(difflib.unified_diff(x.split('\n'), best.split('\n'), lineterm='', n=1))[:30]))
    print('-----')
