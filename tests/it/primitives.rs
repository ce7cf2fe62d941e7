//! llm-orc's built-in primitives, run natively by the real binary (no Python involved): their
//! output keys, their error cases, and the project-directory confinement of the file ones.

use crate::common;

use common::{TestProject, latest_artifact};
use serde_json::Value;

fn project(agents: &str) -> TestProject {
    let p = TestProject::new();
    p.ensemble(
        "prims",
        &format!("name: prims\ndescription: primitives\nagents:\n{agents}"),
    );
    p
}

fn response(art: &Value, agent: &str) -> Value {
    let text = art["results"][agent]["response"].as_str().unwrap_or("null");
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[test]
fn file_primitives_read_write_and_stay_in_the_project() {
    let p = project(
        "  - name: write
    script: primitives/file_ops/write_file.py
    parameters: {path: out/note.txt, content: \"héllo\"}
  - name: read
    script: primitives/file-ops/read_file.py
    parameters: {path: data/in.txt}
  - name: missing
    script: primitives/file_ops/read_file.py
    parameters: {path: data/none.txt}
  - name: escape
    script: primitives/file_ops/read_file.py
    parameters: {path: ../secret.txt}
  - name: escape-write
    script: primitives/file_ops/write_file.py
    parameters: {path: /tmp/orc-should-not-write/x.txt, content: x}
",
    );
    p.write("data/in.txt", "line one\nline two\n");
    std::fs::write(p.dir.path().join("secret.txt"), "top secret").expect("write");
    let r = p.orc(&["invoke", "prims", "go"]);
    assert_eq!(r.code, 1, "three agents fail: {}", r.stderr);
    let art = latest_artifact(&p, "prims");

    assert_eq!(
        art["results"]["write"]["response"],
        r#"{"success": true, "path": "out/note.txt", "size": 5, "bytes_written": 6, "error": null}"#
    );
    assert_eq!(
        std::fs::read_to_string(p.root().join("out/note.txt")).expect("written"),
        "héllo"
    );
    assert_eq!(
        art["results"]["read"]["response"],
        r#"{"success": true, "content": "line one\nline two\n", "path": "data/in.txt", "size": 18, "error": null}"#
    );
    assert_eq!(art["results"]["missing"]["status"], "failed");
    assert_eq!(
        art["results"]["missing"]["error"],
        "[Errno 2] No such file or directory: 'data/none.txt'"
    );
    for agent in ["escape", "escape-write"] {
        let err = art["results"][agent]["error"].as_str().unwrap_or("");
        assert!(
            err.contains("is outside the project directory")
                && err.contains("--allow-outside-project"),
            "{agent}: {err}"
        );
    }
    assert!(!std::path::Path::new("/tmp/orc-should-not-write").exists());

    // The explicit flag lets them out.
    let r = p.orc(&["invoke", "prims", "go", "--allow-outside-project"]);
    let art = latest_artifact(&p, "prims");
    assert_eq!(
        response(&art, "escape")["content"],
        "top secret",
        "{}",
        r.stderr
    );
    assert_eq!(art["results"]["escape-write"]["status"], "success");
    let _ = std::fs::remove_dir_all("/tmp/orc-should-not-write");
}

#[test]
fn data_and_control_primitives() {
    let p = project(
        "  - name: extract
    script: primitives/data_transform/json_extract.py
    parameters: {json_data: '{\"title\": \"T\", \"n\": 2}', fields: [title, owner]}
  - name: bad-json
    script: primitives/data-transform/json_extract.py
    parameters: {json_data: '{not json', fields: [a]}
  - name: replicate
    script: primitives/control_flow/replicate_n_times.py
    parameters: {replications: 2, seed: 7}
  - name: zero
    script: primitives/control-flow/replicate_n_times.py
    parameters: {replications: 0}
",
    );
    let r = p.orc(&["invoke", "prims", "go"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let art = latest_artifact(&p, "prims");
    assert_eq!(
        art["results"]["extract"]["response"],
        r#"{"success": true, "extracted": {"title": "T"}, "missing_fields": ["owner"], "total_fields": 2, "extracted_count": 1, "error": null}"#
    );
    let bad = art["results"]["bad-json"]["error"].as_str().unwrap_or("");
    assert!(bad.contains("Invalid JSON"), "{bad}");
    assert_eq!(
        art["results"]["replicate"]["response"],
        r#"{"success": true, "replications": [{"replication_id": 1, "total_replications": 2, "random_seed": 7}, {"replication_id": 2, "total_replications": 2, "random_seed": 8}], "total_replications": 2, "base_seed": 7, "error": null}"#
    );
    assert_eq!(art["results"]["zero"]["error"], "replications must be >= 1");
}

/// With no one to ask (stdin is not a terminal), the interactive primitives take a
/// `pre_collected` answer, else the input text, as llm-orc's non-interactive run does; the run
/// is marked interactive.
#[test]
fn user_interaction_without_a_terminal() {
    let p = project(
        "  - name: ask
    script: primitives/user_interaction/get_user_input.py
    parameters: {prompt: Your name?}
  - name: confirm
    script: primitives/user-interaction/confirm_action.py
    parameters: {prompt: Deploy?, pre_collected: 'YES'}
  - name: confirm-default
    script: primitives/user_interaction/confirm_action.py
    depends_on: [ask]
    parameters: {prompt: Really?, default: y}
",
    );
    let r = p.orc(&["invoke", "prims", "Ada"]);
    let art = latest_artifact(&p, "prims");
    assert_eq!(
        art["results"]["ask"]["response"],
        r#"{"success": true, "input": "Ada", "multiline": false, "length": 3, "error": null}"#,
        "{}",
        r.stderr
    );
    assert_eq!(
        art["results"]["confirm"]["response"],
        r#"{"success": true, "confirmed": true, "input": "yes", "prompt": "Deploy?", "error": null}"#
    );
    // With a dependency there is no plain input to fall back on and no one to ask.
    assert_eq!(art["results"]["confirm-default"]["status"], "failed");
    assert_eq!(
        art["results"]["confirm-default"]["error"],
        "User cancelled confirmation"
    );
    assert_eq!(art["metadata"]["interactive_mode"], true);
    assert_eq!(art["metadata"]["user_inputs_collected"], 0);
}
