//! The committed captures in `testdata/` are exactly what
//! `examples/make_testdata.rs` makes, and every one of them is described in
//! `testdata/README.md`. Run `cargo run --example make_testdata` after
//! changing the generator.

mod common;

use common::gen;

#[test]
fn committed_captures_match_the_generator() {
    let caps = gen::all().expect("the generator runs");
    let mut stale = Vec::new();
    for c in &caps {
        match std::fs::read(common::testdata(c.name)) {
            Ok(b) if b == c.bytes => {}
            Ok(_) => stale.push(format!("{} differs", c.name)),
            Err(e) => stale.push(format!("{}: {e}", c.name)),
        }
    }
    let readme = std::fs::read_to_string(common::testdata("README.md")).unwrap_or_default();
    if !readme.starts_with(&gen::readme(&caps)) {
        stale.push("README.md differs".into());
    }
    assert!(
        stale.is_empty(),
        "testdata/ is out of date (run `cargo run --example make_testdata`): {stale:?}"
    );
}

#[test]
fn every_file_in_testdata_is_described() {
    // Generated captures are described by the generator; anything else must
    // be described by hand after the marker line of README.md.
    let caps = gen::all().expect("the generator runs");
    let readme = std::fs::read_to_string(common::testdata("README.md")).unwrap_or_default();
    let by_hand = readme
        .split_once(gen::OTHERS_MARKER)
        .map(|(_, rest)| rest)
        .unwrap_or("");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            name == "README.md" || caps.iter().any(|c| c.name == name) || by_hand.contains(&name),
            "testdata/{name} is neither made by examples/make_testdata.rs nor described in testdata/README.md"
        );
    }
}

#[test]
fn captures_are_tiny() {
    for c in gen::all().unwrap() {
        assert!(
            c.bytes.len() < 8192,
            "{} is {} bytes",
            c.name,
            c.bytes.len()
        );
    }
}
