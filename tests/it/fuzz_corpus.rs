//! Replays the fuzzing corpus (`fuzz/seeds/load_and_compile`, kept from a 1.2 million-execution
//! cargo-fuzz run) through the same entry point the fuzz target uses: no input may panic.

use std::path::Path;

#[test]
fn every_corpus_input_loads_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/load_and_compile");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(
        files.len() > 1000,
        "the corpus is in the repository ({} files)",
        files.len()
    );
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        let outcome = std::panic::catch_unwind(|| orc::testkit::fuzzing::load_and_compile(&bytes));
        assert!(outcome.is_ok(), "{} made orc panic", f.display());
    }
}

#[test]
fn every_expression_corpus_input_evaluates_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/expression");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(!files.is_empty());
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        let outcome = std::panic::catch_unwind(|| orc::testkit::fuzzing::expression(&bytes));
        assert!(outcome.is_ok(), "{} made orc panic", f.display());
    }
}

#[test]
fn hostile_yaml_is_refused_with_a_located_error() {
    // Deep nesting, an alias bomb, a huge scalar count and invalid UTF-8 end in errors, not in
    // a crash or unbounded memory.
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..12 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("b{}", i - 1)
        };
        bomb.push_str(&format!("b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    for text in [deep.as_str(), bomb.as_str()] {
        assert!(orc::load::yaml::parse(text).is_err());
        orc::testkit::fuzzing::load_and_compile(text.as_bytes());
    }
    orc::testkit::fuzzing::load_and_compile(&[0xff, 0xfe, b'a', b':']);
}
