//! The NEON kernels, which cannot run on an x86_64 machine, built for aarch64
//! and run under qemu-user: `tests/emulated/neon.rs` compares every NEON path
//! with the portable one (itself checked against candle by the unit tests).
//!
//! Needs the aarch64 standard library (`rustup target add
//! aarch64-unknown-linux-gnu`), a cross linker (`apt-get install
//! gcc-aarch64-linux-gnu`) and `qemu-aarch64` (`apt-get install qemu-user`);
//! `.ci/run` installs all three.

#![cfg(target_arch = "x86_64")]

use std::path::Path;
use std::process::Command;

const TARGET: &str = "aarch64-unknown-linux-gnu";

#[test]
fn neon_kernels_agree_with_the_portable_ones_under_emulation() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emulated/neon.rs");
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("neon-check");
    let build = Command::new("rustc")
        .args(["--edition", "2024", "-O", "--target", TARGET])
        .args([
            "-C",
            "linker=aarch64-linux-gnu-gcc",
            "--cfg",
            "kernel_check",
        ])
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .output()
        .expect("running rustc");
    assert!(
        build.status.success(),
        "building the NEON check for {TARGET} failed (is the target installed? \
         rustup target add {TARGET}; apt-get install gcc-aarch64-linux-gnu):\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new("qemu-aarch64")
        .args(["-L", "/usr/aarch64-linux-gnu"])
        .arg(&binary)
        .output()
        .expect("running qemu-aarch64 (apt-get install qemu-user)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the NEON kernels disagree with the portable ones:\n{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let count: usize = stdout
        .rsplit(": ")
        .next()
        .and_then(|tail| tail.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count >= 2000, "only {count} comparisons ran: {stdout}");
}
