//! Records the commit the binary is built from, for `paystack --version`.

use std::process::Command;

fn main() {
    // A build that has no repository (a container build) may say it: PAYSTACK_COMMIT=abc123.
    println!("cargo:rerun-if-env-changed=PAYSTACK_COMMIT");
    let given = std::env::var("PAYSTACK_COMMIT").ok().filter(|s| !s.is_empty());
    let commit = given.or_else(|| {
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    });
    let commit = commit
        // A build from a source archive, outside any repository.
        .unwrap_or_else(|| "commit unknown".to_owned());
    println!("cargo:rustc-env=PAYSTACK_COMMIT={commit}");
    // Rebuilt when HEAD moves: a new commit, or another branch checked out.
    for path in ["../../.git/HEAD", "../../.git/refs/heads"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
