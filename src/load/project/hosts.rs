//! The pool of Ollama hosts: `hosts:` in config.yaml, and `OLLAMA_HOSTS` over it.

use serde::Serialize;

use crate::load::spec::Reader;
use crate::load::yaml::{Node, Value};

/// One entry of `hosts:` in config.yaml (or of `OLLAMA_HOSTS`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostEntry {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_model_limit: Option<u64>,
    /// Higher is preferred among otherwise equal hosts.
    pub priority: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_loaded_models: Option<u64>,
}

impl HostEntry {
    pub fn new(url: &str) -> HostEntry {
        HostEntry {
            url: url.trim().trim_end_matches('/').to_string(),
            per_model_limit: None,
            priority: 0,
            max_loaded_models: None,
        }
    }
}

/// `OLLAMA_HOSTS=url,url,...` over the configured pool: the listed hosts, each keeping the
/// settings config.yaml gives the same URL.
pub fn hosts_from_env(configured: &[HostEntry], env: &str) -> Vec<HostEntry> {
    env.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            let fresh = HostEntry::new(u);
            configured
                .iter()
                .find(|h| h.url == fresh.url)
                .cloned()
                .unwrap_or(fresh)
        })
        .collect()
}

/// `hosts:` a list of URLs or of `{url, per_model_limit, priority, max_loaded_models}`. A later
/// config file's entry for the same URL replaces the earlier one; new URLs are added.
pub(super) fn read_hosts(r: &mut Reader<'_>, node: &Node, hosts: &mut Vec<HostEntry>) {
    let items = match &node.value {
        Value::Seq(items) => items,
        Value::Null => return,
        other => {
            r.sink.error(
                node.pos,
                format!(
                    "`hosts` must be a list of URLs or of {{url: ...}} mappings, found {}",
                    other.kind()
                ),
            );
            return;
        }
    };
    for item in items {
        let Some(host) = read_host(r, item) else {
            continue;
        };
        match hosts.iter_mut().find(|h| h.url == host.url) {
            Some(old) => *old = host,
            None => hosts.push(host),
        }
    }
}

fn read_host(r: &mut Reader<'_>, item: &Node) -> Option<HostEntry> {
    let url_ok = |r: &mut Reader<'_>, url: &str, pos| {
        if url.trim().is_empty() {
            r.sink.error(pos, "a host needs a non-empty `url`");
            false
        } else {
            true
        }
    };
    if let Some(url) = item.as_str() {
        return url_ok(r, url, item.pos).then(|| HostEntry::new(url));
    }
    let Some(entries) = item.as_map() else {
        r.sink.error(
            item.pos,
            format!(
                "a host must be a URL or a mapping with `url`, found {}",
                item.value.kind()
            ),
        );
        return None;
    };
    let mut host: Option<HostEntry> = None;
    let (mut limit, mut priority, mut max_loaded) = (None, 0i64, None);
    for e in entries {
        match e.key.as_str() {
            "url" => {
                host = r
                    .text(e)
                    .filter(|u| url_ok(r, u, e.value.pos))
                    .map(|u| HostEntry::new(&u));
            }
            "per_model_limit" => match r.unsigned(e) {
                Some(0) => {
                    r.sink
                        .error(e.value.pos, "`per_model_limit` must be at least 1");
                }
                n => limit = n,
            },
            "max_loaded_models" => match r.unsigned(e) {
                Some(0) => {
                    r.sink
                        .error(e.value.pos, "`max_loaded_models` must be at least 1");
                }
                n => max_loaded = n,
            },
            "priority" => match &e.value.value {
                Value::Int(i) => priority = *i,
                other => {
                    r.sink.error(
                        e.value.pos,
                        format!("`priority` must be a whole number, found {}", other.kind()),
                    );
                }
            },
            _ => r.unknown_key(
                e,
                "a host",
                &["url", "per_model_limit", "priority", "max_loaded_models"],
            ),
        }
    }
    let Some(mut host) = host else {
        if item.get("url").is_none() {
            r.sink.error(item.pos, "a host needs `url`");
        }
        return None;
    };
    host.per_model_limit = limit;
    host.priority = priority;
    host.max_loaded_models = max_loaded;
    Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_hosts_lists_the_pool_and_keeps_configured_settings() {
        let mut gpu = HostEntry::new("http://gpu:11434");
        gpu.priority = 3;
        let hosts = hosts_from_env(&[gpu.clone()], " http://a:1, http://gpu:11434/ ,,");
        assert_eq!(hosts, [HostEntry::new("http://a:1"), gpu]);
    }
}
