//! Reads a target's committed seed corpus, for the seed tests in the main workspace.
//!
//! The fuzz targets live in their own workspace and need nightly; these tests run each
//! committed seed (`fuzz/corpus/<target>/*`) through the same property file the target
//! includes, so the seeds and the properties are checked by the ordinary test command.

use std::path::Path;

/// Every file of `fuzz/corpus/<target>/`, by name, sorted. `manifest_dir` is the
/// calling crate's `CARGO_MANIFEST_DIR` (a crate under `crates/`).
pub(crate) fn read(manifest_dir: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(manifest_dir)
        .join("../../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("a UTF-8 name")
                .to_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, bytes)
        })
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= 5,
        "{}: only {} seeds",
        dir.display(),
        seeds.len()
    );
    seeds
}

/// Runs `check` on every seed of `target`, naming the seed that fails.
pub(crate) fn check_all(manifest_dir: &str, target: &str, check: impl Fn(&[u8])) {
    for (name, bytes) in read(manifest_dir, target) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&bytes)));
        if let Err(panic) = outcome {
            eprintln!("fuzz/corpus/{target}/{name} breaks the property");
            std::panic::resume_unwind(panic);
        }
    }
}
