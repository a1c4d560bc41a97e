//! Replays every input saved under `testdata/fuzz/<target>/` through the
//! code and checks of that fuzz target (`fuzz/fuzz_targets/checks.rs`,
//! included here), so that `cargo test` (and `.ci/run`) keeps each fixed
//! crash fixed. A new finding: copy libFuzzer's artifact to the target's
//! folder under a name saying what it broke, fix the code, run this test.

#[path = "../fuzz/fuzz_targets/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

/// The saved inputs of one target, sorted (none when it has no folder yet).
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/fuzz")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Run `check` on every saved input of `target`, naming the one that fails.
fn replay(target: &str, check: fn(&[u8])) {
    for path in inputs(target) {
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails again", path.display());
    }
}

#[test]
fn capture_pipeline_inputs_replay_cleanly() {
    replay("capture_pipeline", checks::capture_pipeline);
}

#[test]
fn http_inputs_replay_cleanly() {
    replay("http", checks::http);
}

#[test]
fn naming_inputs_replay_cleanly() {
    replay("naming", checks::naming);
}
