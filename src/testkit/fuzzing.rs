//! The entry point the fuzz target and the corpus replay test share: every way orc reads YAML
//! that a user or a client can write (ensembles, config.yaml, profile files), then compiling.

use std::path::Path;
use std::sync::OnceLock;

use crate::compile::Compiler;
use crate::load::diag::Sink;
use crate::load::project::{
    Config, Dirs, Env, Profiles, Project, Tier, ensemble_from_text, read_config_text,
};

/// A project with two profiles, loaded once, to compile fuzzed ensembles against.
fn project() -> &'static Project {
    static P: OnceLock<Project> = OnceLock::new();
    P.get_or_init(|| {
        let dirs = Dirs::discover(Path::new("/nonexistent-orc-fuzz"), Some(Path::new("/nonexistent-orc-fuzz")), &Env::default());
        let mut p = Project::load(dirs);
        let mut config = Config::default();
        let mut out = Vec::new();
        read_config_text(
            "model_profiles:\n  tiny: {model: 'qwen3:0.6b', provider: ollama}\n  small: {model: 'gemma3:4b', provider: ollama, fallback_model_profile: tiny}\n",
            Path::new("config.yaml"),
            Tier::Local,
            &mut config,
            &mut p.profiles,
            &mut out,
        );
        p
    })
}

/// Reads `data` as an ensemble (then compiles it), as config.yaml, and as a profile file.
pub fn load_and_compile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.yaml");
    let file = ensemble_from_text(Tier::Local, path, String::new(), text);
    let _ = Compiler::new(project()).compile(&file);
    let mut config = Config::default();
    let mut profiles = Profiles::default();
    let mut out = Vec::new();
    read_config_text(
        text,
        Path::new("config.yaml"),
        Tier::Local,
        &mut config,
        &mut profiles,
        &mut out,
    );
    if let Ok(doc) = crate::load::yaml::parse(text) {
        let mut sink = Sink::new(path);
        let mut r = crate::load::spec::Reader { sink: &mut sink };
        let _ = crate::load::spec::read_profile(&mut r, None, &doc.root);
    }
}

/// Evaluates `data` as a behavioral assertion over a small run: no input may panic, hang or
/// allocate without bound.
pub fn expression(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let vars = [
        ("execution_order", serde_json::json!(["a", "b"])),
        (
            "agent_outputs",
            serde_json::json!({"a": {"n": 1, "l": [1, 2], "s": "text"}, "b": {"output": "x"}}),
        ),
        ("execution_time", serde_json::json!(1.5)),
        ("ensemble_name", serde_json::json!("e")),
    ];
    let _ = crate::compile::expr::evaluate(text, &vars);
    let _ = crate::compile::predicate::evaluate(text, |t| {
        crate::compile::predicate::resolve_agent_ref(t, |_| vars[1].1.get("a"))
    });
}
