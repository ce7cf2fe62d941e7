//! `orc report timeline`: the SVG of a real run against the simulator.

use crate::common;

use common::{native_config, peer_project};
use orc::testkit::sim::{SimConfig, Simulator};

fn count(s: &str, needle: &str) -> usize {
    s.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_of_a_swarm_run() {
    let sim = Simulator::start(
        SimConfig {
            parallel: 4,
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = peer_project();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    let out = p.orc_async(&["invoke", "peer-swarm", "x"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = p.orc_async(&["report", "timeline", "latest"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let svg = out.stdout;
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    // The header gives the run's span in seconds, like every other duration orc prints.
    let span = svg
        .split_once("37 agents, ")
        .and_then(|(_, rest)| rest.split_once(" s; light:"))
        .and_then(|(secs, _)| secs.parse::<f64>().ok());
    assert!(
        span.is_some_and(|s| s > 0.0 && s < 60.0),
        "header: {span:?}"
    );
    // One row per agent, each with a service bar; 36 dependency edges; two models in the legend.
    assert_eq!(count(&svg, "<g class=\"agent"), 37);
    assert_eq!(count(&svg, "class=\"service\""), 37);
    assert_eq!(count(&svg, "<line class=\"dep\""), 36);
    assert_eq!(count(&svg, "<g class=\"legend\""), 2);
    assert!(svg.contains("qwen3:0.6b (32)") && svg.contains("gemma3:1b (5)"));
    // With 4 slots per model, 28 extractors waited for a slot.
    assert!(
        count(&svg, "class=\"queue\"") >= 28,
        "{}",
        count(&svg, "class=\"queue\"")
    );
    // The critical path runs extractor -> analyser -> synthesizer.
    assert_eq!(count(&svg, "<g class=\"agent critical\""), 3);
    assert!(svg.contains("<g class=\"agent critical\" data-agent=\"synthesizer\">"));
    // Rows are grouped by model: every qwen row comes before every gemma row.
    let order: Vec<&str> = svg
        .split("<g class=\"agent")
        .skip(1)
        .filter_map(|g| g.split("data-agent=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(order.len(), 37);
    assert!(
        order[..32].iter().all(|a| a.starts_with("extractor-")),
        "{order:?}"
    );

    // Writing to a file; a missing artifact is a clear error.
    let out = p
        .orc_async(&["report", "timeline", "peer-swarm", "-o", "t.svg"])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(p.root().join("t.svg").is_file());
    let out = p.orc_async(&["report", "timeline", "nope"]).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no artifact found for `nope`"));
}
