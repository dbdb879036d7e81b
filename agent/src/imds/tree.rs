//! Walking a metadata tree (`/latest/meta-data/`) as cloud-init crawls it: listings split
//! on newlines, names ending in `/` are folders, `public-keys/` lines `0=name` name the
//! folder `0/`, everything else is a leaf. Reads run concurrently, a bounded number at a
//! time, over one shared client (one token).

use std::collections::{BTreeMap, VecDeque};

use tokio::task::JoinSet;

use super::{ImdsClient, ImdsError};

/// How many reads a walk keeps in flight by default.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Deepest folder a walk enters below its root: EC2's deepest
/// (`network/interfaces/macs/MAC/ipv4-associations/IP`) is 6 levels down.
pub const MAX_WALK_DEPTH: usize = 16;

/// Most reads (listings and leaves) one walk makes: an instance with many interfaces and
/// addresses has a few hundred.
pub const MAX_WALK_READS: usize = 10_000;

/// One read of the walk: a folder to list or a leaf to fetch (absolute IMDS paths).
enum Job {
    List(String),
    Leaf(String),
}

/// The outcome of one read.
type Read = Result<Option<Vec<u8>>, ImdsError>;

/// Whether a listed name can be a metadata path component: not empty, not `.` or
/// `..` (which would walk elsewhere on the server), no control character, `?` or `#`.
fn plausible(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(|c| c.is_control() || c == '?' || c == '#')
}

/// The children of folder `dir` (ending in `/`) from its listing; names that cannot be
/// metadata paths are skipped.
pub fn children(dir: &str, listing: &str) -> Vec<(String, bool)> {
    let in_public_keys = dir.ends_with("/public-keys/");
    listing
        .split('\n')
        .filter(|line| {
            let name = line.strip_suffix('/').unwrap_or(line);
            let name = if in_public_keys {
                name.split_once('=').map_or(name, |(index, _)| index)
            } else {
                name
            };
            let ok = plausible(name);
            if !ok && !line.is_empty() {
                tracing::debug!(dir, "skipped a listed name that is not a metadata path");
            }
            ok
        })
        .map(|line| {
            if in_public_keys {
                if let Some((index, _name)) = line.split_once('=') {
                    return (format!("{dir}{index}/"), true);
                }
            }
            match line.strip_suffix('/') {
                Some(name) => (format!("{dir}{name}/"), true),
                None => (format!("{dir}{line}"), false),
            }
        })
        .collect()
}

/// Every leaf under `root` (a folder path such as `/latest/meta-data/`), keyed by its path
/// relative to `root`, with at most `concurrency` reads in flight. `Ok(None)` when `root`
/// itself is missing; children that were listed but answer 404 are left out. A walk
/// deeper than [`MAX_WALK_DEPTH`] or longer than [`MAX_WALK_READS`] reads is an error.
pub async fn walk(
    client: &ImdsClient,
    root: &str,
    concurrency: usize,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, ImdsError> {
    let root = if root.ends_with('/') {
        root.to_string()
    } else {
        format!("{root}/")
    };
    let concurrency = concurrency.max(1);
    let mut leaves = BTreeMap::new();
    let mut pending = VecDeque::from([Job::List(root.clone())]);
    let mut running: JoinSet<(Job, Read)> = JoinSet::new();
    let mut reads = 0usize;
    let too_large = |what: String| ImdsError::WalkTooLarge {
        root: root.clone(),
        what,
    };
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < concurrency {
            let Some(job) = pending.pop_front() else {
                break;
            };
            reads += 1;
            if reads > MAX_WALK_READS {
                return Err(too_large(format!("needs more than {MAX_WALK_READS} reads")));
            }
            if let Job::List(dir) = &job {
                let depth = dir[root.len().min(dir.len())..].matches('/').count();
                if depth > MAX_WALK_DEPTH {
                    return Err(too_large(format!(
                        "nests deeper than {MAX_WALK_DEPTH} folders ({dir})"
                    )));
                }
            }
            let client = client.clone();
            running.spawn(async move {
                let path = match &job {
                    Job::List(p) | Job::Leaf(p) => p.clone(),
                };
                let result = client.get(&path).await;
                (job, result)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (job, result) = joined.map_err(|_| ImdsError::WalkCancelled { root: root.clone() })?;
        match (job, result?) {
            (Job::List(dir), Some(body)) => {
                for (path, is_dir) in children(&dir, &String::from_utf8_lossy(&body)) {
                    pending.push_back(if is_dir {
                        Job::List(path)
                    } else {
                        Job::Leaf(path)
                    });
                }
            }
            (Job::List(dir), None) if dir == root => return Ok(None),
            (Job::Leaf(path), Some(body)) => {
                let rel = path.strip_prefix(&root).unwrap_or(&path).to_string();
                leaves.insert(rel, body);
            }
            (Job::List(path) | Job::Leaf(path), None) => {
                tracing::debug!(path, "listed but not found; skipped");
            }
        }
    }
    Ok(Some(leaves))
}

/// Nest leaves keyed by `a/b/c` into JSON objects; values are text (invalid UTF-8
/// replaced).
pub fn to_json(leaves: &BTreeMap<String, Vec<u8>>) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for (path, value) in leaves {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let text = String::from_utf8_lossy(value).into_owned();
        insert(&mut root, &parts, text);
    }
    serde_json::Value::Object(root)
}

fn insert(node: &mut serde_json::Map<String, serde_json::Value>, parts: &[&str], text: String) {
    match parts {
        [] => {}
        [leaf] => {
            node.insert(leaf.to_string(), serde_json::Value::String(text));
        }
        [folder, rest @ ..] => {
            let entry = node
                .entry(folder.to_string())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if !entry.is_object() {
                *entry = serde_json::Value::Object(serde_json::Map::new());
            }
            if let serde_json::Value::Object(map) = entry {
                insert(map, rest, text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::imds::test_server::{Reply, TestServer};
    use crate::imds::ImdsSettings;

    #[test]
    fn listing_rules() {
        assert_eq!(
            children("/m/", "ami-id\nplacement/\n"),
            [
                ("/m/ami-id".to_string(), false),
                ("/m/placement/".to_string(), true)
            ]
        );
        assert_eq!(
            children("/m/public-keys/", "0=my-key\n1=other"),
            [
                ("/m/public-keys/0/".to_string(), true),
                ("/m/public-keys/1/".to_string(), true)
            ]
        );
    }

    #[tokio::test]
    async fn walks_the_tree_with_one_token() {
        let server = TestServer::start(|req, _| match (req.method.as_str(), req.path.as_str()) {
            ("PUT", _) => Reply::ok("tok"),
            (_, "/latest/meta-data/") => Reply::ok("ami-id\nplacement/\npublic-keys/\ngone"),
            (_, "/latest/meta-data/ami-id") => Reply::ok("ami-1"),
            (_, "/latest/meta-data/placement/") => Reply::ok("region\navailability-zone"),
            (_, "/latest/meta-data/placement/region") => Reply::ok("eu-west-1"),
            (_, "/latest/meta-data/placement/availability-zone") => Reply::ok("eu-west-1a"),
            (_, "/latest/meta-data/public-keys/") => Reply::ok("0=k"),
            (_, "/latest/meta-data/public-keys/0/") => Reply::ok("openssh-key"),
            (_, "/latest/meta-data/public-keys/0/openssh-key") => Reply::ok("ssh-ed25519 AAAA k"),
            _ => Reply::status(404),
        })
        .await;
        let mut s = ImdsSettings::default().with_endpoint(server.url());
        s.retry_base = Duration::ZERO;
        let client = ImdsClient::from_settings(&s).unwrap();
        let leaves = walk(&client, "/latest/meta-data", 3)
            .await
            .unwrap()
            .unwrap();
        let keys: Vec<&str> = leaves.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "ami-id",
                "placement/availability-zone",
                "placement/region",
                "public-keys/0/openssh-key"
            ]
        );
        assert_eq!(
            server
                .lines()
                .iter()
                .filter(|l| l.starts_with("PUT"))
                .count(),
            1
        );
        let json = to_json(&leaves);
        assert_eq!(json["placement"]["region"], "eu-west-1");
        assert_eq!(
            json["public-keys"]["0"]["openssh-key"],
            "ssh-ed25519 AAAA k"
        );
        assert_eq!(walk(&client, "/nothing/", 3).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_hostile_tree_is_bounded_and_its_odd_names_skipped() {
        // Every folder lists a folder `a/` again (a walk without end), and names that
        // would leave the tree.
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => Reply::ok("tok"),
            _ if req.path.ends_with('/') => Reply::ok("a/\n../\n.\nx\u{1b}[2J\nleaf"),
            _ => Reply::ok("v"),
        })
        .await;
        let mut s = ImdsSettings::default().with_endpoint(server.url());
        s.retry_base = Duration::ZERO;
        let client = ImdsClient::from_settings(&s).unwrap();
        let err = walk(&client, "/latest/meta-data/", 4).await.unwrap_err();
        assert!(
            matches!(&err, ImdsError::WalkTooLarge { what, .. } if what.contains("deeper than 16")),
            "{err}"
        );
        assert!(server
            .lines()
            .iter()
            .all(|l| !l.contains("..") && !l.contains('\u{1b}')));
        // A listing of many leaves stops at the read bound.
        let wide = (0..MAX_WALK_READS + 10)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let server = TestServer::start(move |req, _| match req.method.as_str() {
            "PUT" => Reply::ok("tok"),
            _ if req.path.ends_with('/') => Reply::ok(wide.clone()),
            _ => Reply::ok("v"),
        })
        .await;
        let client =
            ImdsClient::from_settings(&ImdsSettings::default().with_endpoint(server.url()))
                .unwrap();
        let err = walk(&client, "/latest/meta-data/", 16).await.unwrap_err();
        assert!(
            matches!(&err, ImdsError::WalkTooLarge { what, .. } if what.contains("more than 10000 reads")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_answer_past_the_cap_is_refused_once_not_retried() {
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => Reply::ok("tok"),
            _ => Reply::ok(vec![b'x'; crate::imds::client::MAX_ANSWER + 1]),
        })
        .await;
        let mut s = ImdsSettings::default().with_endpoint(server.url());
        s.retry_base = Duration::ZERO;
        let client = ImdsClient::from_settings(&s).unwrap();
        let err = client.get("/latest/meta-data/x").await.unwrap_err();
        assert!(matches!(err, ImdsError::TooLarge { .. }), "{err}");
        assert_eq!(
            server
                .lines()
                .iter()
                .filter(|l| l.starts_with("GET"))
                .count(),
            1
        );
    }
}
