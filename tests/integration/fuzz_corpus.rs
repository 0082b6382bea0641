//! The fuzz targets on stable: every seed under `fuzz/corpus/<target>/` and every kept crash
//! under `fuzz/regressions/<target>/` goes through the function the libFuzzer binary calls
//! (`fuzz/src/lib.rs`, compiled here as a module), so a parser change that makes a kept input
//! panic, or that stops the targets from compiling, fails `cargo test`.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/lib.rs"]
mod targets;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The files of `dir/<target>/`, sorted; none when the directory does not exist.
fn inputs(dir: &Path, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The subdirectories of `dir`: each must be a target's.
fn target_dirs(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_seed_and_kept_crash_runs_through_its_target() {
    let fuzz = Path::new(ROOT).join("fuzz");
    let names: Vec<&str> = targets::TARGETS.iter().map(|(name, _)| *name).collect();
    for kind in ["corpus", "regressions"] {
        for dir in target_dirs(&fuzz.join(kind)) {
            assert!(
                names.contains(&dir.as_str()),
                "fuzz/{kind}/{dir} belongs to no fuzz target (targets: {names:?})"
            );
        }
    }
    let mut ran = 0;
    for (name, target) in targets::TARGETS {
        let seeds = inputs(&fuzz.join("corpus"), name);
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seed");
        for file in seeds.iter().chain(&inputs(&fuzz.join("regressions"), name)) {
            let data = std::fs::read(file).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(
                outcome.is_ok(),
                "{} panics in the {name} target",
                file.display()
            );
            ran += 1;
        }
    }
    assert!(ran >= names.len(), "only {ran} inputs ran");
}

/// The targets tolerate what no seed holds: empty input, invalid UTF-8, deep nesting.
#[test]
fn edge_inputs_do_not_panic() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for data in [
        &b""[..],
        b"\xff\xfe\x00",
        deep.as_bytes(),
        b"[[rule]]\nname = \"",
    ] {
        for (_, target) in targets::TARGETS {
            target(data);
        }
    }
}
