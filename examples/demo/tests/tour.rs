//! The README's first command: the demo's tour passes, step by step.

use std::process::Command;

#[test]
fn the_demo_tour_passes() {
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis-demo"))
        .arg("--once")
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.matches("[ok]").count(), 8, "{stdout}");
    assert!(
        stdout.contains("a denied write (scope read only): PUT /api/items/42 -> 403 Forbidden")
    );
    assert!(
        stdout.contains("GET /api/items/42 -> 400 Bad Request"),
        "{stdout}"
    );
    assert!(stdout.contains(r#"error="invalid_request""#), "{stdout}");
}

#[test]
fn a_bad_argument_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis-demo"))
        .arg("--twice")
        .output()
        .expect("the demo runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage"));
}
