//! What an MCP `invoke` / `run_result` answers: by default only what Claude acts on (the
//! deliverable, status, each agent's status and error, usage totals, the ids), because Claude
//! reads every character of a tool result as input tokens. `detail: agents` adds each agent's
//! answer, `detail: full` is llm-orc's whole document (as the artifact holds it); one agent's
//! answer comes alone with `agent`. Every answer is held under a size cap: the longest strings
//! are cut, and a `truncated` note says where the rest is.

use serde_json::{Map, Value, json};

/// How much of a run a result carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Deliverable,
    Agents,
    Full,
}

impl Detail {
    pub fn parse(s: Option<&str>) -> Result<Detail, String> {
        match s.unwrap_or("deliverable") {
            "deliverable" | "" => Ok(Detail::Deliverable),
            "agents" => Ok(Detail::Agents),
            "full" => Ok(Detail::Full),
            other => Err(format!(
                "detail `{}` is not deliverable, agents or full",
                other.chars().take(40).collect::<String>()
            )),
        }
    }
}

/// The default cap on a result's size, in characters of its JSON (about 5K tokens): under
/// Claude Code's 25,000-token limit, past which a result is written to a file Claude must page.
pub const DEFAULT_MAX_CHARS: usize = 20_000;

/// The fields every shape keeps, from the full document `full` (see `OrcMcp::result_json`).
fn head(full: &Value, detail: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for k in ["status", "executor_status", "has_errors", "deliverable"] {
        m.insert(k.into(), full.get(k).cloned().unwrap_or(Value::Null));
    }
    if let Some(e) = full.get("error") {
        m.insert("error".into(), e.clone());
    }
    // The free checks' verdict (a delegated run): whether the answer may be used, and why not.
    for k in ["delivered", "escalate", "quality"] {
        if let Some(v) = full.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    m.insert("detail".into(), json!(detail));
    m
}

fn tail(full: &Value, m: &mut Map<String, Value>) {
    let totals = &full["metadata"]["usage"]["totals"];
    if totals.is_object() {
        let mut usage = Map::new();
        for k in [
            "total_tokens",
            "total_input_tokens",
            "total_output_tokens",
            "total_cost_usd",
            "total_duration_ms",
            "agents_with_missing_counts",
            "agents_truncated",
        ] {
            if let Some(v) = totals.get(k).filter(|v| !v.is_null()) {
                usage.insert(k.trim_start_matches("total_").into(), v.clone());
            }
        }
        m.insert("usage".into(), Value::Object(usage));
    }
    for k in ["routing_id", "run_id", "artifact_id"] {
        if let Some(v) = full.get(k).filter(|v| !v.is_null()) {
            m.insert(k.into(), v.clone());
        }
    }
    if full["warnings"].as_array().is_some_and(|w| !w.is_empty()) {
        m.insert("warnings".into(), full["warnings"].clone());
    }
}

/// An agent's answer as text (a JSON answer as its compact JSON).
fn answer_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The shape Claude asked for. `Full` is the document as it is.
pub fn shape(full: &Value, detail: Detail) -> Value {
    if detail == Detail::Full {
        let mut v = full.clone();
        v["detail"] = json!("full");
        return v;
    }
    let mut m = head(
        full,
        if detail == Detail::Agents {
            "agents"
        } else {
            "deliverable"
        },
    );
    let mut agents = Map::new();
    if let Some(results) = full["results"].as_object() {
        for (name, r) in results {
            let status = r["status"].clone();
            let error = r.get("error").filter(|e| !e.is_null());
            let entry = match (detail, error) {
                (Detail::Agents, _) => {
                    let mut a = Map::new();
                    a.insert("status".into(), status);
                    if let Some(e) = error {
                        a.insert("error".into(), e.clone());
                    }
                    a.insert("response".into(), json!(answer_text(&r["response"])));
                    Value::Object(a)
                }
                (_, Some(e)) => json!({"status": status, "error": e}),
                (_, None) => status,
            };
            agents.insert(name.clone(), entry);
        }
    }
    m.insert("agents".into(), Value::Object(agents));
    tail(full, &mut m);
    Value::Object(m)
}

/// One agent's answer alone, from `offset` (characters), with its status and error.
pub fn agent(full: &Value, name: &str, offset: usize) -> Result<Value, String> {
    let r = full["results"].get(name).ok_or_else(|| {
        let known: Vec<&String> = full["results"]
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        format!(
            "no agent `{}` in this run; its agents: {}",
            name.chars().take(80).collect::<String>(),
            known
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let text = answer_text(&r["response"]);
    let total = text.chars().count();
    let mut m = Map::new();
    m.insert("agent".into(), json!(name));
    m.insert("status".into(), r["status"].clone());
    if let Some(e) = r.get("error").filter(|e| !e.is_null()) {
        m.insert("error".into(), e.clone());
    }
    m.insert(
        "response".into(),
        json!(text.chars().skip(offset).collect::<String>()),
    );
    m.insert("response_chars".into(), json!(total));
    if offset > 0 {
        m.insert("offset".into(), json!(offset));
    }
    for k in ["routing_id", "run_id", "artifact_id"] {
        if let Some(v) = full.get(k).filter(|v| !v.is_null()) {
            m.insert(k.into(), v.clone());
        }
    }
    Ok(Value::Object(m))
}

fn len(v: &Value) -> usize {
    serde_json::to_string(v).map_or(0, |s| s.chars().count())
}

/// Every string leaf's length in characters, with its path.
fn strings(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, usize)>) {
    match v {
        Value::String(s) => out.push((path.clone(), s.chars().count())),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                strings(x, path, out);
                path.pop();
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                path.push(k.clone());
                strings(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'v>(v: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    let mut cur = v;
    for p in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(p)?,
            Value::Array(a) => a.get_mut(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Holds `v` under `max` characters of JSON: the longest strings are cut to one common length
/// (each cut one says how many characters it left out), and a `truncated` note says where the
/// rest is (`rest`). A document whose structure alone is over the cap is replaced by the note.
pub fn cap(mut v: Value, max: usize, rest: &str) -> Value {
    let total = len(&v);
    if total <= max {
        return v;
    }
    let mut leaves = Vec::new();
    strings(&v, &mut Vec::new(), &mut leaves);
    // Room for the note and the markers each cut string carries.
    let note_room = 400 + rest.len();
    let marker = 48;
    let strings_total: usize = leaves.iter().map(|(_, n)| n).sum();
    let fixed = total.saturating_sub(strings_total);
    let budget = max.saturating_sub(fixed + note_room);
    // The largest common length L with sum(min(n, L) + marker if cut) <= budget.
    let mut lens: Vec<usize> = leaves.iter().map(|(_, n)| *n).collect();
    lens.sort_unstable();
    let mut limit = 0usize;
    let (mut lo, mut hi) = (0usize, lens.last().copied().unwrap_or(0));
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        let used: usize = lens
            .iter()
            .map(|&n| if n > mid { mid + marker } else { n })
            .sum();
        if used <= budget {
            limit = mid;
            lo = mid + 1;
        } else if mid == 0 {
            break;
        } else {
            hi = mid - 1;
        }
    }
    let mut cut = 0usize;
    for (path, n) in &leaves {
        if *n > limit
            && let Some(Value::String(s)) = at(&mut v, path)
        {
            let kept: String = s.chars().take(limit).collect();
            *s = format!("{kept}… [{} more chars]", n - limit);
            cut += 1;
        }
    }
    let note = json!({
        "note": format!("this result was {total} characters, over the cap of {max}: {cut} long text(s) cut. {rest}"),
        "total_chars": total,
        "max_chars": max,
    });
    if let Value::Object(m) = &mut v {
        m.insert("truncated".into(), note.clone());
    }
    if len(&v) <= max {
        return v;
    }
    // The structure does not fit: llm-orc's resource metadata goes first (it is in the
    // artifact), then everything but the status, the ids and the note.
    if let Some(m) = v.as_object_mut()
        && m.remove("metadata").is_some()
    {
        m.insert(
            "truncated".into(),
            json!({
                "note": format!("this result was {total} characters, over the cap of {max}: `metadata` left out and {cut} long text(s) cut. {rest}"),
                "total_chars": total,
                "max_chars": max,
            }),
        );
        if len(&v) <= max {
            return v;
        }
    }
    let mut m = Map::new();
    for k in [
        "status",
        "executor_status",
        "routing_id",
        "run_id",
        "artifact_id",
    ] {
        if let Some(x) = v.get(k) {
            m.insert(k.into(), x.clone());
        }
    }
    m.insert("truncated".into(), note);
    Value::Object(m)
}

/// Where the rest of a run is, for the `truncated` note.
pub fn where_rest(full: &Value, artifact_path: Option<&str>) -> String {
    let run = full["run_id"].as_str().unwrap_or("RUN_ID");
    let mut s = format!(
        "One agent's answer in full: run_result(run_id: \"{run}\", agent: NAME, offset: N); a larger cap: max_chars."
    );
    if let Some(p) = artifact_path {
        s.push_str(&format!(" The whole document: {p}."));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "results": {
                "a": {"response": "x".repeat(5000), "status": "success", "model_substituted": false},
                "b": {"response": null, "status": "failed", "error": "boom"},
            },
            "deliverable": "d".repeat(3000),
            "status": "error",
            "has_errors": true,
            "executor_status": "completed_with_errors",
            "metadata": {"usage": {"totals": {"total_tokens": 10, "total_input_tokens": 6, "total_output_tokens": 4}}, "big": "m".repeat(9000)},
            "artifact_id": "e/20260101-000000-000",
            "warnings": [],
            "routing_id": "r1",
            "run_id": "run1",
        })
    }

    #[test]
    fn the_compact_shape_keeps_what_claude_acts_on() {
        let c = shape(&doc(), Detail::Deliverable);
        assert_eq!(c["agents"]["a"], "success");
        assert_eq!(c["agents"]["b"]["error"], "boom");
        assert_eq!(c["usage"]["tokens"], 10);
        assert_eq!(c["routing_id"], "r1");
        assert!(c.get("metadata").is_none() && c.get("warnings").is_none());
        assert!(len(&c) < 3000 + 600, "{}", len(&c));
        let a = shape(&doc(), Detail::Agents);
        assert_eq!(
            a["agents"]["a"]["response"].as_str().map(str::len),
            Some(5000)
        );
        assert_eq!(
            shape(&doc(), Detail::Full)["metadata"]["big"],
            "m".repeat(9000)
        );
    }

    #[test]
    fn the_cap_cuts_the_longest_strings_and_says_where_the_rest_is() {
        let full = shape(&doc(), Detail::Full);
        let capped = cap(full, 4000, "see the artifact");
        assert!(len(&capped) <= 4000, "{}", len(&capped));
        assert!(
            capped["truncated"]["note"]
                .as_str()
                .is_some_and(|n| n.contains("see the artifact"))
        );
        assert!(
            capped["deliverable"]
                .as_str()
                .is_some_and(|d| d.contains("more chars]"))
        );
        assert_eq!(capped["results"]["b"]["error"], "boom");
        // Under the cap: unchanged.
        let small = json!({"deliverable": "ok"});
        assert_eq!(cap(small.clone(), 4000, ""), small);
    }

    #[test]
    fn one_agent_alone_from_an_offset() {
        let a = agent(&doc(), "a", 4990).expect("agent");
        assert_eq!(a["response"], "x".repeat(10));
        assert_eq!(a["response_chars"], 5000);
        let e = agent(&doc(), "zz", 0).expect_err("unknown");
        assert!(e.contains("a, b"), "{e}");
    }
}
