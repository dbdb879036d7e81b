//! The conformance cases under `agent/tests/data/cloud-init/userdata-cases/`: one folder
//! per case with `input` (user data as IMDS returns it; `@DIR@` stands for the folder),
//! an optional `launch-index`, cloud-init's answer in `expected.json` (recorded with
//! `oracle.py`), and where strap deliberately differs, its own answer and the reason in
//! `strap.json`.

use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::*;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cloud-init/userdata-cases")
}

/// What a case expects: parts as `(content_type, filename, bytes, sha256)`, or an error.
fn expected(dir: &Path) -> Option<Vec<(String, String, u64, String)>> {
    let file = if dir.join("strap.json").exists() {
        dir.join("strap.json")
    } else {
        dir.join("expected.json")
    };
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    if doc.get("error").is_some() {
        return None;
    }
    Some(
        doc["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["content_type"].as_str().unwrap().to_string(),
                    p["filename"].as_str().unwrap().to_string(),
                    p["bytes"].as_u64().unwrap(),
                    p["sha256"].as_str().unwrap().to_string(),
                )
            })
            .collect(),
    )
}

async fn run_case(dir: &Path) -> Result<(), String> {
    let raw = std::fs::read(dir.join("input")).unwrap();
    let dir_text = dir.to_str().unwrap();
    let raw = String::from_utf8_lossy(&raw).contains("@DIR@").then(|| {
        String::from_utf8_lossy(&raw)
            .replace("@DIR@", dir_text)
            .into_bytes()
    });
    let raw = raw.unwrap_or_else(|| std::fs::read(dir.join("input")).unwrap());
    let launch_index = std::fs::read_to_string(dir.join("launch-index"))
        .ok()
        .map(|s| s.trim().parse().unwrap());
    let opts = DecodeOptions {
        launch_index,
        include: IncludeOptions {
            retries: 0,
            ..IncludeOptions::default()
        },
        ..DecodeOptions::default()
    };
    let got = decode(&raw, &opts).await;
    match (expected(dir), got) {
        (None, Err(_)) => Ok(()),
        (None, Ok(d)) => Err(format!("expected an error, got {:?}", d.parts)),
        (Some(_), Err(e)) => Err(format!("unexpected error: {e}")),
        (Some(want), Ok(d)) => {
            let got: Vec<_> = d
                .parts
                .iter()
                .map(|p| {
                    (
                        p.content_type.clone(),
                        p.filename.clone(),
                        p.payload.len() as u64,
                        hex::encode(sha2::Sha256::digest(&p.payload)),
                    )
                })
                .collect();
            if got == want {
                Ok(())
            } else {
                Err(format!("want {want:#?}\n got {got:#?}"))
            }
        }
    }
}

#[tokio::test]
async fn every_case_matches_cloud_init() {
    let mut dirs: Vec<_> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() > 40,
        "cases missing from {}",
        cases_dir().display()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        if let Err(why) = run_case(dir).await {
            failures.push(format!(
                "{}: {why}",
                dir.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every user-data example of cloud-init's corpus decodes, with no warning other than
/// the ones cloud-init gives (unhandled types) or strap's refusals and skipped includes.
#[tokio::test]
async fn every_corpus_example_decodes() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cloud-init");
    let mut files = Vec::new();
    for sub in ["examples", "tests-data"] {
        for entry in std::fs::read_dir(base.join(sub)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files.sort();
    assert!(files.len() > 30);
    let opts = DecodeOptions {
        include: IncludeOptions {
            enabled: false,
            ..IncludeOptions::default()
        },
        ..DecodeOptions::default()
    };
    for file in files {
        let raw = std::fs::read(&file).unwrap();
        let decoded = decode(&raw, &opts)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            !decoded.parts.is_empty() || !decoded.warnings.is_empty(),
            "{}: neither parts nor warnings",
            file.display()
        );
        for w in &decoded.warnings {
            assert!(
                w.starts_with("Unhandled ")
                    || w.contains("not supported by strap")
                    || w.contains("includes are off"),
                "{}: unexpected warning {w}",
                file.display()
            );
        }
    }
}
