//! Build script: puts the git commit the binary is built from into `R0C_GIT_COMMIT`, which
//! `r0c --version` and the startup report show.
//!
//! Outside a git checkout (a crate tarball, `cargo install` from a copy without `.git`) the
//! commit is whatever `R0C_GIT_COMMIT` says in the build's environment, or "unknown".

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=R0C_GIT_COMMIT");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned());
    let commit = std::env::var("R0C_GIT_COMMIT")
        .ok()
        .filter(|commit| !commit.trim().is_empty())
        .or_else(|| git_commit(Path::new(&manifest_dir)))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=R0C_GIT_COMMIT={commit}");
}

/// The abbreviated commit of HEAD, and the files whose change means another commit (so the
/// script runs again after a commit or a checkout); `None` without git or a repository.
fn git_commit(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        let text = String::from_utf8(output.stdout).ok()?;
        Some(text.trim().to_owned()).filter(|text| !text.is_empty())
    };
    // A source tree unpacked inside some other repository is not that repository's commit.
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // HEAD names the branch; the branch's ref file (or packed-refs) names the commit. In a
    // worktree these live in the main repository's git directory, which git resolves.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        let path = if Path::new(&path).is_absolute() {
            Path::new(&path).to_path_buf()
        } else {
            dir.join(path)
        };
        // Cargo reruns the script on every build for a watched file that does not exist.
        if !path.exists() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(commit)
}
