//! The scenario suite on the starter tier: the real Qwen2.5 0.5B model
//! (fetched and checked by models/fetch.sh) chooses the action of the turns
//! the pattern classifier is unsure of and opens every reply, through
//! `shopkeep bench assistant`, as an owner would run it.

mod common;

/// The figure after `label` in the bench report, up to the next space or `%`.
fn figure(report: &str, label: &str) -> f64 {
    let start = report
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} is not in the report:\n{report}"))
        + label.len();
    report[start..]
        .split([' ', '%', ',', ')'])
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?}:\n{report}"))
}

#[test]
fn the_starter_tier_passes_at_least_85_percent_of_the_scenarios() {
    let model = common::model_file("qwen2.5-coder-0.5b-instruct");
    let models_dir = model.parent().unwrap().to_str().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let (status, stdout, stderr) = common::cli_with_env(
        data.path(),
        &[
            "bench",
            "assistant",
            "--tier",
            "starter",
            "--model",
            "qwen2.5-coder-0.5b-instruct",
        ],
        &[("SHOPKEEP_MODELS_DIR", &models_dir)],
    );
    assert!(status.success(), "{stdout}\n{stderr}");
    let passed = figure(&stdout, "scenarios passed (");
    assert!(passed >= 85.0, "{passed}% passed:\n{stdout}");
    // The model really answered: most turns went through it.
    let model_turns = figure(&stdout, "model turns: ");
    assert!(model_turns >= 100.0, "{stdout}");
    assert!(stdout.contains("time to first token p50"), "{stdout}");
}

#[test]
fn a_tier_that_cannot_run_is_refused_with_the_reason() {
    let data = tempfile::tempdir().unwrap();
    let (status, _, stderr) =
        common::cli(data.path(), &["bench", "assistant", "--tier", "enterprise"]);
    assert!(!status.success());
    assert!(stderr.contains("no remote API configured"), "{stderr}");
    let (status, _, stderr) =
        common::cli(data.path(), &["bench", "assistant", "--tier", "premium"]);
    assert!(!status.success());
    assert!(stderr.contains("unknown tier"), "{stderr}");
}
