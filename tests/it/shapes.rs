//! The benchmark shapes compile to the structure llm-orc's samples show, and `orc graph` of the
//! swarm is pinned by a snapshot.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{TestProject, peer_project};

fn graph_json(p: &TestProject, name: &str) -> serde_json::Value {
    let r = p.orc(&["graph", name, "--format", "json"]);
    assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    serde_json::from_str(&r.stdout).expect("graph json")
}

/// (name, agents, edges, levels, pattern)
const SHAPES: &[(&str, usize, usize, usize, &str)] = &[
    ("peer-sequential", 3, 2, 3, "sequential"),
    ("peer-fanin", 9, 8, 2, "fan-in"),
    ("peer-swarm", 37, 36, 3, "swarm"),
    ("peer-fanout-llm", 3, 2, 3, "fan-out"),
    ("peer-fanout-script", 3, 2, 3, "fan-out"),
    ("peer-nested", 4, 4, 3, "composable"),
    ("peer-wide128", 129, 128, 2, "fan-in"),
];

fn assert_shapes(p: &TestProject) {
    for &(name, agents, edges, levels, pattern) in SHAPES {
        let v = graph_json(p, name);
        assert_eq!(v["agent_count"], agents, "{name} agents");
        assert_eq!(v["edge_count"], edges, "{name} edges");
        assert_eq!(
            v["levels"].as_array().map(Vec::len),
            Some(levels),
            "{name} levels"
        );
        assert_eq!(v["pattern"], pattern, "{name} pattern");
    }
}

#[test]
fn peer_shapes_validate_and_compile_to_their_structure() {
    let p = peer_project();
    let r = p.orc(&["validate", "--all"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.is_empty(), "no warnings expected: {}", r.stderr);
    assert!(
        r.stdout
            .contains("7 ensemble(s): 7 valid, 0 invalid, 0 warning(s)"),
        "{}",
        r.stdout
    );
    assert_shapes(&p);

    let swarm = graph_json(&p, "peer-swarm");
    let tiers: Vec<&str> = swarm["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| l["size_class"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(tiers, ["micro", "micro", "micro"]);
    assert_eq!(swarm["agents_per_model"]["qwen3:0.6b"], 32);
    assert_eq!(swarm["agents_per_model"]["gemma3:1b"], 5);
    let nested = graph_json(&p, "peer-nested");
    assert_eq!(nested["agents"][1]["type"], "ensemble");
    assert_eq!(nested["agents"][1]["reference"], "peer-sequential");
}

#[test]
fn graph_of_the_swarm_text() {
    let p = peer_project();
    let r = p.orc(&["graph", "peer-swarm"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("graph_peer_swarm_text", r.stdout);
}

#[test]
fn graph_of_nested_dot() {
    let p = peer_project();
    let r = p.orc(&["graph", "peer-nested", "--format", "dot"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("graph_peer_nested_dot", r.stdout);
}

/// Script agents are a tier of their own (`script`), as are agents that run a child ensemble
/// (`ensemble`); neither is counted as a model size.
#[test]
fn graph_counts_scripts_and_children_as_their_own_tiers() {
    let p = peer_project();
    p.ensemble(
        "mixed",
        "name: mixed\ndescription: d\nagents:\n  - name: chunker\n    script: scripts/chunk.py\n  - name: worker\n    model_profile: tiny\n    depends_on: [chunker]\n    fan_out: true\n  - name: again\n    script: scripts/chunk.py\n    depends_on: [chunker]\n  - name: child\n    ensemble: peer-sequential\n    depends_on: [chunker]\n  - name: reducer\n    model_profile: small\n    depends_on: [worker, again, child]\n",
    );
    let r = p.orc(&["graph", "mixed"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("graph_mixed_tiers_text", r.stdout);
    let v = graph_json(&p, "mixed");
    let levels = v["levels"].as_array().expect("levels");
    assert_eq!(levels[0]["size_class"], "script");
    assert_eq!(
        levels[1]["classes"],
        serde_json::json!({"ensemble": 1, "micro": 1, "script": 1})
    );
    assert_eq!(levels[1]["size_class"], "micro");
    let nested = graph_json(&p, "peer-nested");
    assert_eq!(nested["levels"][1]["size_class"], "ensemble");
    let dot = p.orc(&["graph", "mixed", "--format", "dot"]);
    insta::assert_snapshot!("graph_mixed_tiers_dot", dot.stdout);
}

/// `../shared/llm-orc` beside the repository, when this checkout has it.
fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/llm-orc");
    p.is_dir().then_some(p)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir").flatten() {
        let path = e.path();
        if path.is_file() {
            fs::copy(&path, to.join(e.file_name())).expect("copy");
        }
    }
}

/// Every ensemble of llm-orc's own benchmark project validates under both config versions and
/// has the agents the recorded runs show.
#[test]
fn llm_orc_benchmark_project_validates() {
    let Some(shared) = shared() else {
        common::missing_prerequisite("../shared/llm-orc is not beside this checkout");
        return;
    };
    for version in ["0.19.0", "0.25.2"] {
        let p = TestProject::new();
        let local = p.root().join(".llm-orc");
        copy_dir(&shared.join("project/ensembles"), &local.join("ensembles"));
        copy_dir(&shared.join("project/scripts"), &local.join("scripts"));
        fs::copy(
            shared.join(format!("project/config-{version}.yaml")),
            local.join("config.yaml"),
        )
        .expect("config");
        let r = p.orc(&["validate", "--all"]);
        assert_eq!(r.code, 0, "{version}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.is_empty(), "{version}: {}", r.stderr);
        assert_shapes(&p);

        // The recorded runs name the same declared agents (fan-out instances aside).
        for &(name, agents, ..) in SHAPES {
            let sample = shared.join(format!("samples/{version}/{name}.execution.json"));
            let Ok(text) = fs::read_to_string(&sample) else {
                continue;
            };
            let run: serde_json::Value = serde_json::from_str(&text).expect("sample json");
            assert_eq!(run["metadata"]["agents_used"], agents, "{version} {name}");
            let declared: Vec<String> = graph_json(&p, name)["agents"]
                .as_array()
                .expect("agents")
                .iter()
                .filter_map(|a| a["name"].as_str().map(str::to_string))
                .collect();
            let recorded: Vec<String> = run["results"]
                .as_object()
                .expect("results")
                .keys()
                .filter(|k| !k.contains('['))
                .cloned()
                .collect();
            let mut d = declared.clone();
            let mut rec = recorded.clone();
            d.sort();
            rec.sort();
            assert_eq!(d, rec, "{version} {name}");
        }
    }
}

/// The repository is an orc project: its shipped examples validate from a fresh clone.
#[test]
fn the_repository_project_validates() {
    let p = TestProject::new();
    let repo = env!("CARGO_MANIFEST_DIR");
    let r = p.orc_in(Path::new(repo), &["--project", repo, "validate", "--all"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("5 ensemble(s): 5 valid, 0 invalid, 0 warning(s)"),
        "{}",
        r.stdout
    );
    let g = p.orc_in(Path::new(repo), &["graph", "swarm-review"]);
    assert!(
        g.stdout.contains(
            "tiers: 8 micro (qwen3:0.6b) -> 3 small (gemma3:4b) -> 1 medium (gemma3:12b)"
        ),
        "{}",
        g.stdout
    );
}
