//! execution.json as a type: `ExecutionDoc`, llm-orc 0.25.2's document of a run (with orc's
//! `metadata.orc` beside it), built from a [`RunResult`] for writing and read back from disk
//! (`store::read`) with the same struct.
//!
//! It lives in the run layer, not in `store`, because the engine itself needs it: a nested or
//! dispatched agent's response *is* its child run's document, and validation reads a run's
//! `results` from it. The store only writes and reads it.
//!
//! Field order is key order (serde_json keeps it: `preserve_order`). Writing goes through a
//! `serde_json::Value` (`to_value`), as before the type existed, so a name listed twice keeps
//! its first place and its last value. Reading is lenient, as llm-orc's own artifacts need:
//! what is missing reads as empty, and a part orc never reads back that does not have orc's
//! shape reads as empty instead of refusing the document.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::results::{
    AgentUsage, AuxiliaryCall, BudgetReport, Entry, InstanceStatus, RunResult, Status, TimelineRow,
};

/// An execution.json, typed: what orc writes and what its readers (`--resume`, the timeline,
/// `analyze_execution`) use of it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecutionDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<String>,
    /// `completed`, `completed_with_errors`, `budget_exhausted` or `interrupted` (llm-orc may
    /// write others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default)]
    pub has_errors: bool,
    #[serde(default)]
    pub input: Input,
    /// `results`, in the document's order.
    #[serde(default, serialize_with = "as_map", deserialize_with = "in_order")]
    pub results: Vec<(String, ResultEntry)>,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliverable: Option<Value>,
    /// A nested run's order of execution (never in the root document).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub execution_order: Option<Vec<String>>,
    /// The outcome of the ensemble's `validation:` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_result: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Input {
    #[serde(default)]
    pub data: Value,
}

/// One entry of `results`, in llm-orc 0.25.2's keys (key order included), then orc's cache
/// keys when the answer came from the result cache.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResultEntry {
    #[serde(default)]
    pub response: Value,
    /// llm-orc's status word (`success`, `failed`, `skipped`, `partial`).
    #[serde(default)]
    pub status: String,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub fan_out: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub instances: Option<Vec<InstanceStatus>>,
    /// Written for every entry but a gathered fan-out.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub model_substituted: Option<bool>,
    /// Text as orc writes it; llm-orc's artifacts may hold any JSON here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub outcome: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub has_errors: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_requests: Option<Value>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub handled_failure: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub handled_failure_reason: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub cached: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_usage: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default, deserialize_with = "lenient")]
    pub agents_used: usize,
    /// Epoch seconds.
    #[serde(default, deserialize_with = "lenient")]
    pub started_at: f64,
    /// `"12.34s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub completed_at: f64,
    #[serde(default)]
    pub usage: UsageMeta,
    #[serde(default, deserialize_with = "lenient")]
    pub adaptive_resource_management: ResourceManagement,
    /// Per gathered fan-out agent: how many instances ran and succeeded.
    #[serde(
        default,
        deserialize_with = "lenient_in_order_opt",
        serialize_with = "as_map_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub fan_out: Option<Vec<(String, FanOutCount)>>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub interactive_mode: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_inputs_collected: Option<u64>,
    /// What orc adds (absent from llm-orc's artifacts, and from nested documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orc: Option<OrcMeta>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsageMeta {
    /// Per LLM call, by agent name.
    #[serde(
        default,
        deserialize_with = "lenient_in_order",
        serialize_with = "as_map"
    )]
    pub agents: Vec<(String, AgentUsageDoc)>,
    #[serde(default)]
    pub totals: Totals,
}

/// One LLM call's usage: llm-orc's keys, then orc's exact figures beside them. A count the
/// server did not report is `null` and listed in `counts_missing`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentUsageDoc {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    pub duration_ms: u64,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_profile: Option<String>,
    pub provider: String,
    pub host: String,
    pub cached_input_tokens: Option<u64>,
    pub prompt_eval_count: Option<u64>,
    pub eval_count: Option<u64>,
    pub load_duration_ns: Option<u64>,
    pub prompt_eval_duration_ns: Option<u64>,
    pub eval_duration_ns: Option<u64>,
    pub total_duration_ns: Option<u64>,
    pub done_reason: Option<String>,
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts_missing: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts_invalid: Option<BTreeMap<String, String>>,
    pub service_ms: f64,
    /// llm-orc's per-agent resource keys, added to the root document only (`store::artifact`).
    #[serde(flatten)]
    pub resources: AgentResources,
}

/// llm-orc 0.25.2's per-agent resource keys: the agent's real start and service time, with
/// the samples empty (`sample_count: 0`): orc does not sample per agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentResources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_cpu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_memory: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_cpu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_cpu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_memory: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_samples: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_samples: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_sample_count: Option<u64>,
}

impl AgentResources {
    /// An agent that started at `start_time` (epoch seconds) and was served for `duration_s`.
    pub fn unsampled(start_time: f64, duration_s: f64) -> AgentResources {
        AgentResources {
            start_time: Some(start_time),
            baseline_cpu: Some(0.0),
            baseline_memory: Some(0.0),
            sample_count: Some(0),
            peak_cpu: Some(0.0),
            avg_cpu: Some(0.0),
            peak_memory: Some(0.0),
            avg_memory: Some(0.0),
            cpu_samples: Some(Vec::new()),
            memory_samples: Some(Vec::new()),
            resource_duration_seconds: Some(duration_s),
            resource_sample_count: Some(0),
        }
    }
}

/// Sums of what was counted, and how many agents had counts missing. Optional for reading
/// (llm-orc's artifacts may lack some); orc writes every one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    #[serde(default)]
    pub total_tokens: Option<u64>,
    #[serde(default)]
    pub total_input_tokens: Option<u64>,
    #[serde(default)]
    pub total_output_tokens: Option<u64>,
    #[serde(default)]
    pub total_cost_usd: Option<f64>,
    #[serde(default, deserialize_with = "lenient")]
    pub total_duration_ms: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub agents_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub total_cached_input_tokens: Option<u64>,
    #[serde(default)]
    pub agents_with_missing_counts: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub agents_with_invalid_counts: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub agents_truncated: Option<u64>,
}

/// `metadata.adaptive_resource_management` in llm-orc 0.25.2's shape (filled in for the root
/// document by `store::artifact::resource_management`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceManagement {
    pub adaptive_used: bool,
    pub management_type: String,
    pub concurrency_decisions: Vec<Value>,
    pub resource_metrics: Vec<ResourceSample>,
    /// Empty (`{}`) until the process is measured.
    pub execution_metrics: ExecutionMetrics,
    pub phase_metrics: Vec<PhaseMetrics>,
}

impl Default for ResourceManagement {
    /// What a nested document says: nothing measured.
    fn default() -> ResourceManagement {
        ResourceManagement {
            adaptive_used: false,
            management_type: "user_configured".into(),
            concurrency_decisions: Vec::new(),
            resource_metrics: Vec::new(),
            execution_metrics: ExecutionMetrics::default(),
            phase_metrics: Vec::new(),
        }
    }
}

/// One sample of orc's process.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceSample {
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub circuit_breaker_state: String,
    pub measurement_point: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutionMetrics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_cpu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_cpu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_memory: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_cpu_samples: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_memory_samples: Option<Vec<f64>>,
}

/// One level of the ensemble (llm-orc's phase), with its agents' real start and end times.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PhaseMetrics {
    pub phase_index: usize,
    pub phase_name: String,
    pub agent_count: usize,
    pub phase_start_time: f64,
    pub agent_names: Vec<String>,
    pub start_time: f64,
    pub duration_seconds: f64,
    pub end_time: f64,
    pub agents_completed: usize,
    pub peak_cpu: f64,
    pub avg_cpu: f64,
    pub peak_memory: f64,
    pub avg_memory: f64,
    pub sample_count: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FanOutCount {
    pub total_instances: usize,
    pub successful_instances: usize,
    pub failed_instances: usize,
}

/// `metadata.orc`: what orc adds to llm-orc's document (the root document only).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrcMeta {
    #[serde(default, deserialize_with = "lenient")]
    pub version: String,
    #[serde(default, deserialize_with = "lenient")]
    pub status: String,
    /// The schedule, as the engine wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineRow>>,
    /// Each LLM and script result's input hash, for `--resume`.
    #[serde(default, serialize_with = "as_map", deserialize_with = "pairs")]
    pub inputs: Vec<(String, String)>,
    /// Results taken from the run `resumed_from`.
    #[serde(default, deserialize_with = "lenient")]
    pub reused: Vec<String>,
    /// Results taken from the result cache.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub cached: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub resumed_from: Option<String>,
    /// Why orc did what it did, by agent.
    #[serde(
        default,
        deserialize_with = "lenient_in_order_opt",
        serialize_with = "as_map_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub notes: Option<Vec<(String, String)>>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub budget: Option<BudgetReport>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub auxiliary_calls: Option<Vec<AuxiliaryCallDoc>>,
    /// The host pool as the run left it: who served, whose breaker opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Value>,
}

/// A model call made for the run but not by its agents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuxiliaryCallDoc {
    pub purpose: String,
    pub agent: Option<String>,
    pub model: String,
    pub usage: AgentUsageDoc,
}

/// Writes `(name, value)` pairs as a JSON object, in order.
fn as_map<S: Serializer, T: Serialize>(pairs: &[(String, T)], s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

fn as_map_opt<S: Serializer, T: Serialize>(
    pairs: &Option<Vec<(String, T)>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    as_map(pairs.as_deref().unwrap_or_default(), s)
}

/// A JSON object as `(name, value)` pairs in the document's order.
fn in_order<'de, D, T>(d: D) -> Result<Vec<(String, T)>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    // serde_json keeps the document's key order (`preserve_order`).
    let map = serde_json::Map::<String, Value>::deserialize(d)?;
    map.into_iter()
        .map(|(k, v)| {
            serde_json::from_value(v)
                .map(|t| (k.clone(), t))
                .map_err(|e| D::Error::custom(format!("results.{k}: {e}")))
        })
        .collect()
}

/// A JSON object of strings as `(name, text)` pairs in the document's order, read as it
/// streams (a value that is not text is refused where it stands).
fn pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct Pairs;
    impl<'de> serde::de::Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out: Vec<(String, String)> = Vec::new();
            while let Some((k, v)) = m.next_entry::<String, String>()? {
                // A name given twice keeps its first place and its last value, as a map does.
                match out.iter_mut().find(|(n, _)| *n == k) {
                    Some(e) => e.1 = v,
                    None => out.push((k, v)),
                }
            }
            Ok(out)
        }
    }
    d.deserialize_map(Pairs)
}

/// `in_order`, or nothing when the part does not have orc's shape.
fn lenient_in_order<'de, D, T>(d: D) -> Result<Vec<(String, T)>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    Ok(in_order(v).unwrap_or_default())
}

/// `lenient_in_order` for a part that may be absent.
fn lenient_in_order_opt<'de, D, T>(d: D) -> Result<Option<Vec<(String, T)>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    Ok(in_order(v).ok())
}

/// A part orc never relied on reading: its value when it has orc's shape, else the default.
fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).unwrap_or_default())
}

/// A value that must have its type when present (`null` is refused, as for a plain field).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl ResultEntry {
    /// One entry exactly as llm-orc 0.25.2 stores it (what scripts see of their dependencies).
    pub fn llm_orc(e: &Entry) -> ResultEntry {
        let fan_out = e.instances.is_some();
        ResultEntry {
            response: e.response.clone(),
            status: e.status.word().to_string(),
            fan_out: fan_out.then_some(true),
            instances: e.instances.clone(),
            model_substituted: (!fan_out).then_some(e.model_substituted),
            error: e.error.clone().map(Value::String),
            payload: e.payload.clone(),
            reason: e.reason.clone(),
            outcome: Some(e.outcome().to_string()),
            has_errors: Some(e.has_errors()),
            agent_requests: e.agent_requests.clone(),
            handled_failure: e.handled_failure.as_ref().map(|_| true),
            handled_failure_reason: e.handled_failure.clone(),
            cached: None,
            cached_usage: None,
        }
    }

    /// The entry as orc's `results` hold it: llm-orc's, with orc's cache keys when the answer
    /// came from the result cache.
    pub fn of(e: &Entry) -> ResultEntry {
        let mut r = ResultEntry::llm_orc(e);
        if let Some(u) = &e.cached_usage {
            r.cached = Some(true);
            r.cached_usage = Some(u.clone());
        }
        r
    }
}

impl AgentUsageDoc {
    pub fn of(u: &AgentUsage) -> AgentUsageDoc {
        let missing = u.usage.missing_counts();
        AgentUsageDoc {
            input_tokens: u.usage.input_tokens,
            output_tokens: u.usage.output_tokens,
            total_tokens: u.total_tokens(),
            cost_usd: u.cost(),
            duration_ms: u.duration_ms(),
            model: u.model.clone(),
            model_profile: u.profile.clone(),
            provider: u.provider.clone(),
            host: u.host.clone(),
            cached_input_tokens: u.usage.cached_input_tokens,
            prompt_eval_count: u.usage.input_tokens,
            eval_count: u.usage.output_tokens,
            load_duration_ns: u.usage.load_duration_ns,
            prompt_eval_duration_ns: u.usage.prompt_eval_duration_ns,
            eval_duration_ns: u.usage.eval_duration_ns,
            total_duration_ns: u.usage.total_duration_ns,
            done_reason: u.done_reason.clone(),
            truncated: u.truncated(),
            counts_missing: (!missing.is_empty())
                .then(|| missing.iter().map(|m| m.to_string()).collect()),
            counts_invalid: (!u.usage.invalid.is_empty()).then(|| u.usage.invalid.clone()),
            service_ms: round3(u.service_ms),
            resources: AgentResources::default(),
        }
    }
}

impl Totals {
    pub fn of(usage: &[(String, AgentUsage)]) -> Totals {
        // Saturating: a sum never wraps, whatever the servers said.
        let sum = |f: &dyn Fn(&AgentUsage) -> Option<u64>| {
            usage
                .iter()
                .filter_map(|(_, u)| f(u))
                .fold(0u64, u64::saturating_add)
        };
        let count = |f: &dyn Fn(&AgentUsage) -> bool| usage.iter().filter(|(_, u)| f(u)).count();
        let input = sum(&|u| u.usage.input_tokens);
        let output = sum(&|u| u.usage.output_tokens);
        Totals {
            total_tokens: Some(input.saturating_add(output)),
            total_input_tokens: Some(input),
            total_output_tokens: Some(output),
            total_cost_usd: Some(usage.iter().filter_map(|(_, u)| u.cost()).sum()),
            total_duration_ms: Some(sum(&|u| Some(u.duration_ms()))),
            agents_count: Some(usage.len() as u64),
            total_cached_input_tokens: Some(sum(&|u| u.usage.cached_input_tokens)),
            agents_with_missing_counts: Some(
                count(&|u| !u.usage.missing_counts().is_empty()) as u64
            ),
            agents_with_invalid_counts: Some(count(&|u| !u.usage.invalid.is_empty()) as u64),
            agents_truncated: Some(count(&|u| u.truncated()) as u64),
        }
    }
}

impl AuxiliaryCallDoc {
    pub fn of(c: &AuxiliaryCall) -> AuxiliaryCallDoc {
        AuxiliaryCallDoc {
            purpose: c.purpose.to_string(),
            agent: c.agent.clone(),
            model: c.usage.model.clone(),
            usage: AgentUsageDoc::of(&c.usage),
        }
    }
}

impl AuxiliaryCall {
    /// `{purpose, agent, model, usage}` as `metadata.orc.auxiliary_calls` lists it.
    pub fn to_json(&self) -> Value {
        to_value(&AuxiliaryCallDoc::of(self))
    }
}

/// As a JSON value (the shapes above serialize to nothing else but JSON objects).
pub fn to_value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or_default()
}

/// One `results` entry in llm-orc 0.25.2's shape (key order included), with orc's cache keys
/// when the answer came from the result cache.
pub fn entry_to_json(e: &Entry) -> Value {
    to_value(&ResultEntry::of(e))
}

/// One entry exactly as llm-orc 0.25.2 stores it (what scripts see of their dependencies).
pub fn llm_orc_entry(e: &Entry) -> Value {
    to_value(&ResultEntry::llm_orc(e))
}

/// Per-agent usage in llm-orc's keys, then orc's exact figures beside them.
pub fn usage_to_json(u: &AgentUsage) -> Value {
    to_value(&AgentUsageDoc::of(u))
}

/// Sums of what was counted, and how many agents had counts missing.
pub fn totals_to_json(usage: &[(String, AgentUsage)]) -> Value {
    to_value(&Totals::of(usage))
}

/// A child run's document (JSON text) as a JSON value, so that a parent embeds it once instead
/// of escaping it again; lists of documents (gathered fan-outs) element by element. Text that
/// is not JSON stays text.
fn embed_document(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        Value::Array(items) => Value::Array(items.iter().map(embed_document).collect()),
        other => other.clone(),
    }
}

impl RunResult {
    /// The root run's document: what execution.json holds (before `store::artifact` adds the
    /// resource figures and the service the host pool).
    pub fn to_doc(&self) -> ExecutionDoc {
        self.document(false, false)
    }

    /// The ensemble result in llm-orc 0.25.2's shape: what execution.json holds and what a
    /// nested agent's response carries (with `execution_order` for nested ones).
    pub fn to_json(&self, nested: bool) -> Value {
        to_value(&self.document(nested, false))
    }

    /// What a parent agent stores of this (child) run: `to_json(true)`, except that the
    /// documents of this run's own nested agents (and a deliverable that is one) are embedded as
    /// JSON values rather than strings, and usage lists only this run's own calls (as llm-orc's
    /// child runs do; the root artifact lists every call once, with its full name). Each level
    /// of nesting is then escaped once, when the root writes it, and its size stays linear in
    /// the number of agents instead of growing by the escaping at every level.
    pub fn to_embedded_json(&self) -> Value {
        to_value(&self.document(true, true))
    }

    fn document(&self, nested: bool, embedded: bool) -> ExecutionDoc {
        ExecutionDoc {
            ensemble: Some(self.ensemble.clone()),
            status: Some(self.status().into()),
            has_errors: self.has_errors() || self.interrupted,
            input: Input {
                data: Value::String(self.input.clone()),
            },
            results: self.results_doc(embedded),
            metadata: self.metadata_doc(nested, embedded),
            deliverable: self.deliverable_doc(embedded),
            execution_order: (nested && !self.execution_order.is_empty())
                .then(|| self.execution_order.clone()),
            validation_result: self.validation.clone(),
        }
    }

    /// `results`; an embedded copy holds its nested agents' documents as values.
    fn results_doc(&self, embedded: bool) -> Vec<(String, ResultEntry)> {
        self.entries
            .iter()
            .map(|(name, e)| {
                let mut r = ResultEntry::of(e);
                if embedded && e.holds_documents() {
                    r.response = match &e.document {
                        Some(d) => (**d).clone(),
                        None => embed_document(&e.response),
                    };
                }
                (name.clone(), r)
            })
            .collect()
    }

    /// The calls a document lists: every one for the root (and a plain nested copy), the run's
    /// own for an embedded copy.
    fn listed_usage(&self, embedded: bool) -> Vec<(String, AgentUsage)> {
        if !embedded {
            return self.usage.clone();
        }
        self.usage
            .iter()
            .enumerate()
            .filter(|(k, _)| self.own_usage.get(*k).copied().unwrap_or(false))
            .map(|(_, u)| u.clone())
            .collect()
    }

    fn metadata_doc(&self, nested: bool, embedded: bool) -> Metadata {
        let usage = self.listed_usage(embedded);
        let fan_out: Vec<(String, FanOutCount)> = self
            .entries
            .iter()
            .filter_map(|(n, e)| {
                let inst = e.instances.as_ref()?;
                let ok = inst.iter().filter(|i| i.status == Status::Success).count();
                Some((
                    n.clone(),
                    FanOutCount {
                        total_instances: inst.len(),
                        successful_instances: ok,
                        failed_instances: inst.len() - ok,
                    },
                ))
            })
            .collect();
        Metadata {
            agents_used: self.agents_used,
            started_at: self.started_at,
            duration: Some(format!("{:.2}s", self.duration_s())),
            completed_at: self.completed_at,
            usage: UsageMeta {
                agents: usage
                    .iter()
                    .map(|(n, u)| (n.clone(), AgentUsageDoc::of(u)))
                    .collect(),
                totals: Totals::of(&usage),
            },
            adaptive_resource_management: ResourceManagement::default(),
            fan_out: (!fan_out.is_empty()).then_some(fan_out),
            interactive_mode: self.interactive.then_some(true),
            user_inputs_collected: self.interactive.then_some(self.user_inputs),
            orc: (!nested).then(|| self.orc_doc()),
        }
    }

    /// `metadata.orc`, for the root document.
    fn orc_doc(&self) -> OrcMeta {
        let named = |f: &dyn Fn(&Entry) -> bool| -> Vec<String> {
            self.all_entries
                .iter()
                .filter(|(_, e)| f(e))
                .map(|(n, _)| n.clone())
                .collect()
        };
        let keyed = |f: &dyn Fn(&Entry) -> Option<String>| -> Vec<(String, String)> {
            self.all_entries
                .iter()
                .filter_map(|(n, e)| Some((n.clone(), f(e)?)))
                .collect()
        };
        let cached = named(&|e| e.cached_usage.is_some());
        let notes = keyed(&|e| e.note.clone());
        OrcMeta {
            version: env!("CARGO_PKG_VERSION").into(),
            status: self.status().into(),
            timeline: Some(self.timeline.clone()),
            inputs: keyed(&|e| e.input_hash.clone()),
            reused: named(&|e| e.reused),
            cached: (!cached.is_empty()).then_some(cached),
            resumed_from: self.resumed_from.clone(),
            notes: (!notes.is_empty()).then_some(notes),
            budget: self.budget.clone(),
            auxiliary_calls: (!self.auxiliary_calls.is_empty()).then(|| {
                self.auxiliary_calls
                    .iter()
                    .map(AuxiliaryCallDoc::of)
                    .collect()
            }),
            hosts: None,
        }
    }

    fn deliverable_doc(&self, embedded: bool) -> Option<Value> {
        let d = self.deliverable.as_ref()?;
        // An embedded copy whose deliverable is a nested agent's document shows that
        // document's own final answer, not the document a second time: with the copy in
        // `results`, each level would double the size (2^15 copies at 15 levels).
        let d = if embedded && self.deliverable_nested {
            self.deliverable_answer.clone()
        } else {
            Some(Value::String(d.clone()))
        };
        d.filter(|d| !d.is_null())
    }
}
