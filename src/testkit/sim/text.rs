//! The simulator's deterministic text: words seeded by the model and prompt, and the hash
//! that seeds them.

use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(super) fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

const VOCAB: &[&str] = &[
    "the", "model", "agent", "signal", "data", "result", "layer", "output", "input", "token",
    "graph", "node", "edge", "phase", "stage", "batch", "latency", "cache", "queue", "worker",
    "claim", "evidence", "source", "review", "summary", "finding", "risk", "metric", "trend",
    "report", "detail", "insight", "factor", "scope", "limit", "sample", "error", "retry", "trace",
    "window", "stream", "chunk", "design", "choice", "method", "plan", "goal", "task", "step",
    "rule", "clear", "strong", "early", "late", "fast", "slow", "small", "large", "local",
    "shared", "stable", "simple", "direct", "common", "useful", "first", "final", "core", "merge",
    "split", "route", "rank", "score", "select", "filter", "group", "reduce", "verify", "of",
    "and", "to", "in",
];

/// `n` deterministic words seeded by `seed`, shaped into sentences.
pub(super) fn words(seed: &str, n: u32) -> Vec<String> {
    let mut x = fnv(seed.as_bytes()) | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let w = VOCAB[(x % VOCAB.len() as u64) as usize];
            let mut w = if i % 12 == 0 {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            } else {
                w.to_string()
            };
            if i % 12 == 11 || i + 1 == n {
                w.push('.');
            }
            if i > 0 {
                w.insert(0, ' ');
            }
            w
        })
        .collect()
}
