//! Fuzz the safe-write path resolution: the input builds a small tree of folders, files
//! and symbolic links (some pointing out of the root, some absolute, some climbing with
//! `..`) in a temporary folder, then resolves and writes paths through it. Whatever the
//! tree, a resolved path stays beneath the root and nothing outside it is ever written.
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use strap::context::{self, Context, FileOptions};

const NAMES: [&str; 4] = ["a", "b", "c", "tmp"];
const TARGETS: [&str; 14] = [
    "/",
    "..",
    "../..",
    "../../outside",
    "/a",
    "a",
    "b/c",
    "../a",
    "/..",
    "/../outside",
    "OUTSIDE",
    ".",
    "../../../..",
    "/tmp/../../outside",
];

/// A relative path of one to three names, chosen by the bits of `b`.
fn rel(b: u8) -> PathBuf {
    let depth = 1 + (b & 3) as usize % 3;
    let mut p = PathBuf::new();
    for i in 0..depth {
        p.push(NAMES[((b >> (2 + 2 * i)) & 3) as usize]);
    }
    p
}

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            snapshot(&p, out);
        } else {
            out.push((p.clone(), fs::read(&p).unwrap_or_default()));
        }
    }
}

fn run(base: &Path, data: &[u8]) {
    let root = base.join("root");
    let outside = base.join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("sentinel"), b"s").unwrap();

    let mut bytes = data.iter().copied();
    // Build the tree: up to 16 entries of (kind, path, target).
    for _ in 0..16 {
        let (Some(op), Some(p)) = (bytes.next(), bytes.next()) else {
            break;
        };
        let at = root.join(rel(p));
        if let Some(parent) = at.parent() {
            // Through the std API on purpose: the tree may hold links anywhere.
            let _ = fs::create_dir_all(parent);
        }
        match op % 4 {
            0 => {
                let _ = fs::create_dir_all(&at);
            }
            1 => {
                let t = TARGETS[(op >> 2) as usize % TARGETS.len()];
                let t = if t == "OUTSIDE" {
                    outside.clone()
                } else {
                    PathBuf::from(t)
                };
                let _ = std::os::unix::fs::symlink(t, &at);
            }
            2 => {
                let _ = fs::write(&at, b"f");
            }
            _ => break,
        }
    }
    // What is outside now (the tree above is built with the std calls, which follow its
    // links, so it may itself have put files there): strap must add nothing.
    let mut before = Vec::new();
    snapshot(&outside, &mut before);
    // Resolve and write a few paths through it.
    let ctx = Context::fixed(Vec::<(String, String)>::new(), &root);
    let canon_root = fs::canonicalize(&root).unwrap();
    for b in bytes.take(4) {
        let machine = Path::new("/").join(rel(b)).join("f");
        if let Ok(p) = ctx.path(&machine) {
            assert!(
                p.starts_with(&root),
                "{} resolved to {}",
                machine.display(),
                p.display()
            );
            if let Some(Ok(real)) = p.parent().map(fs::canonicalize) {
                assert!(
                    real.starts_with(&canon_root),
                    "{} is really {}",
                    p.display(),
                    real.display()
                );
            }
            let _ = context::write_atomic_in(&root, &p, b"w", Some(0o644));
        }
        // The walk on its own, with nothing resolved beforehand.
        let direct = root.join(rel(b)).join("g");
        let _ = context::write_atomic_in(&root, &direct, b"w", Some(0o644));
        let _ = context::append_file(&root, &direct, b"+", FileOptions::default());
        if b & 1 == 1 {
            let _ = context::create_folder(
                &root,
                &root.join(rel(b.rotate_left(3))),
                FileOptions::default(),
            );
        }
    }
    let mut after = Vec::new();
    snapshot(&outside, &mut after);
    assert_eq!(before, after, "something outside the root was written");
}

fuzz_target!(|data: &[u8]| {
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir().join(format!(
        "strap-fuzz-wb-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    run(&base, data);
    let _ = fs::remove_dir_all(&base);
});
