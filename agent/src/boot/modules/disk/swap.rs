//! The `swap` part of `mounts`: `filename` (default `/swap.img`), `size` (bytes, a
//! human size such as `2G`, or `auto`) and `maxsize`. `auto` follows cloud-init's table:
//! as much swap as memory below 4 GiB of memory, 4 GiB below 16 GiB, else
//! √(memory in GiB) GiB; never more than twice the memory, a quarter of the free space of
//! the file's filesystem, or 90 % of it when `maxsize` asks for more. The file is made
//! with `fallocate` (or `dd` on btrfs, or when fallocate fails), then `chmod 600` and
//! `mkswap`. A file already listed in `/proc/swaps` is kept. Under `--root` the file is
//! not created: the fstab line is written and the commands are recorded.

use crate::cloudconfig::{Node, Value};

use super::super::{scalar_text, wrong_type, ModuleError};
use super::{mount_for, Exec, MachineView};

/// The default swap file.
pub const DEFAULT_FILENAME: &str = "/swap.img";

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// How big the swap file should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// From memory and free space.
    Auto,
    /// In bytes.
    Bytes(u64),
}

/// The `swap` settings, when a file is wanted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub filename: String,
    pub size: Size,
    pub maxsize: Option<u64>,
}

/// cloud-init's `human2bytes`: `10M`, `.5G`, `512`, `1.5GB` → bytes (powers of 1024).
pub fn human2bytes(text: &str) -> Result<u64, String> {
    let s = text.strip_suffix('B').unwrap_or(text);
    let (num, mult) = match s.chars().last() {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        Some('T') => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| {
        format!("`{text}` is not a size (use bytes or a number with B, K, M, G or T)")
    })?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("`{text}`: a size cannot be negative"));
    }
    Ok((n * mult as f64) as u64)
}

fn size_of(key: &str, node: &Node, allow_auto: bool) -> Result<Option<Size>, ModuleError> {
    match &node.value {
        Value::Null => Ok(None),
        Value::Int(i) => u64::try_from(*i)
            .map(|b| Some(Size::Bytes(b)))
            .map_err(|_| ModuleError::Invalid {
                key: key.into(),
                message: format!("{i} is negative"),
            }),
        Value::Float(f) if *f >= 0.0 => Ok(Some(Size::Bytes(*f as u64))),
        Value::Str(s) if allow_auto && s.trim().eq_ignore_ascii_case("auto") => {
            Ok(Some(Size::Auto))
        }
        Value::Str(s) => human2bytes(s.trim())
            .map(|b| Some(Size::Bytes(b)))
            .map_err(|message| ModuleError::Invalid {
                key: key.into(),
                message,
            }),
        _ => Err(wrong_type(
            key,
            "a size (bytes, a string such as 2G, or auto)",
            node,
        )),
    }
}

/// Read `swap`; `None` when no swap file is wanted (no key, size 0 or absent).
pub fn parse(node: Option<&Node>) -> Result<Option<Config>, ModuleError> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok(None);
    };
    if node.as_map().is_none() {
        return Err(wrong_type("swap", "a mapping", node));
    }
    let filename = match node.get("filename") {
        None => DEFAULT_FILENAME.to_string(),
        Some(n) if n.is_null() => String::new(),
        Some(n) => match &n.value {
            Value::Str(s) => s.clone(),
            _ => scalar_text(n)
                .filter(|_| matches!(n.value, Value::Int(_)))
                .ok_or_else(|| wrong_type("swap.filename", "a path", n))?,
        },
    };
    let size = match node.get("size") {
        Some(n) => size_of("swap.size", n, true)?,
        None => None,
    };
    let maxsize = match node.get("maxsize") {
        Some(n) => match size_of("swap.maxsize", n, false)? {
            Some(Size::Bytes(b)) => Some(b),
            _ => None,
        },
        None => None,
    };
    match size {
        None | Some(Size::Bytes(0)) => Ok(None),
        Some(_) if filename.is_empty() => Ok(None),
        Some(size) => Ok(Some(Config {
            filename,
            size,
            maxsize,
        })),
    }
}

/// cloud-init's suggested swap size for `memory` bytes, with the free bytes of the
/// file's filesystem when known and an optional maximum.
pub fn suggested_size(memory: u64, maxsize: Option<u64>, avail: Option<u64>) -> u64 {
    let twice = memory.saturating_mul(2);
    let max = match (avail, maxsize) {
        (Some(avail), None) => (avail / 4).min(twice),
        (Some(avail), Some(m)) if m as f64 > avail as f64 * 0.9 => (avail as f64 * 0.9) as u64,
        (_, Some(m)) => m,
        (None, None) => twice,
    };
    let min = if memory < 4 * GIB {
        memory
    } else if memory < 16 * GIB {
        4 * GIB
    } else {
        // Python rounds halves to even.
        ((memory as f64 / GIB as f64).sqrt().round_ties_even() as u64) * GIB
    };
    min.min(max)
}

/// Free bytes (`f_frsize * f_bfree`) of the filesystem holding `path` or its nearest
/// existing ancestor.
pub fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let mut p = path;
    loop {
        if p.exists() {
            let st = nix::sys::statvfs::statvfs(p).ok()?;
            return Some(st.fragment_size() as u64 * st.blocks_free() as u64);
        }
        p = p.parent()?;
    }
}

/// What to do for the swap file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The file is there (in use, or no `/proc/swaps` to tell): list it, make nothing.
    Keep(String),
    /// Make the file: size in MiB and whether to write it with `dd` from the start.
    Create {
        filename: String,
        mib: u64,
        dd: bool,
    },
    /// No swap file, and why.
    Skip(String),
}

/// Decide what to do: `exists` says whether the file is in the root, `avail` is the free
/// space where it goes.
pub fn plan(cfg: &Config, view: &MachineView, exists: bool, avail: Option<u64>) -> Plan {
    let name = &cfg.filename;
    if exists {
        match view.swaps() {
            None => return Plan::Keep(name.clone()),
            Some(swaps) => {
                if swaps.lines().any(|l| l.starts_with(&format!("{name} "))) {
                    return Plan::Keep(name.clone());
                }
            }
        }
    }
    let size = match cfg.size {
        Size::Bytes(b) => b,
        Size::Auto => {
            let Some(mem) = view.mem_total() else {
                return Plan::Skip("not creating swap: cannot read /proc/meminfo".into());
            };
            suggested_size(mem, cfg.maxsize, avail)
        }
    };
    if size == 0 {
        return Plan::Skip("not creating swap: suggested size was 0".into());
    }
    let dir = match name.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((d, _)) => d,
    };
    let fs_type = view
        .mountinfo()
        .and_then(|t| mount_for(dir, &t))
        .map(|m| m.fs_type)
        .unwrap_or_default();
    Plan::Create {
        filename: name.clone(),
        mib: size / MIB,
        dd: fs_type == "btrfs",
    }
}

/// The commands that make the swap file, in order (the first that succeeds of
/// fallocate / dd, then mkswap).
pub fn create_commands(filename: &str, mib: u64, dd: bool) -> Vec<Vec<String>> {
    let fallocate = vec![
        "fallocate".to_string(),
        "-l".into(),
        format!("{mib}M"),
        filename.into(),
    ];
    let dd_cmd = vec![
        "dd".to_string(),
        "if=/dev/zero".into(),
        format!("of={filename}"),
        "bs=1M".into(),
        format!("count={mib}"),
    ];
    let mut cmds = if dd {
        vec![dd_cmd]
    } else {
        vec![fallocate, dd_cmd]
    };
    cmds.push(vec!["mkswap".into(), filename.into()]);
    cmds
}

/// Make the swap file on the machine: fallocate (dd when it fails or on btrfs), mode
/// 0600, mkswap; the file is removed when a step fails.
pub fn create(filename: &str, mib: u64, dd: bool, exec: &mut Exec<'_>) -> Result<(), String> {
    let path = std::path::Path::new(filename);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let cmds = create_commands(filename, mib, dd);
    let (makers, mkswap) = cmds.split_at(cmds.len() - 1);
    let mut made = false;
    let mut last = String::new();
    for cmd in makers {
        let ran = exec(cmd);
        if ran.success() {
            made = true;
            break;
        }
        let _ = std::fs::remove_file(path);
        last = format!("`{}` failed ({})", cmd.join(" "), ran.describe());
    }
    if !made {
        return Err(last);
    }
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    for cmd in mkswap {
        let ran = exec(cmd);
        if !ran.success() {
            let _ = std::fs::remove_file(path);
            return Err(format!("`{}` failed ({})", cmd.join(" "), ran.describe()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Ran;
    use super::*;

    fn yaml(text: &str) -> Node {
        crate::cloudconfig::load(text).unwrap()
    }

    #[test]
    fn human_sizes_as_cloud_init_reads_them() {
        assert_eq!(human2bytes("10M"), Ok(10 * MIB));
        assert_eq!(human2bytes(".5G"), Ok(GIB / 2));
        assert_eq!(human2bytes("2GB"), Ok(2 * GIB));
        assert_eq!(human2bytes("1.5K"), Ok(1536));
        assert_eq!(human2bytes("512"), Ok(512));
        assert_eq!(human2bytes("1T"), Ok(1 << 40));
        assert!(human2bytes("lots").is_err());
        assert!(human2bytes("-1M").is_err());
    }

    #[test]
    fn auto_follows_cloud_inits_table() {
        // (memory, maxsize, free space) → size; values from cloud-init's suggested_swapsize.
        let cases: &[(u64, Option<u64>, Option<u64>, u64)] = &[
            // Below 4 GiB of memory: as much as memory.
            (2 * GIB, None, None, 2 * GIB),
            // Below 16 GiB: 4 GiB.
            (8 * GIB, None, None, 4 * GIB),
            // From 16 GiB: sqrt(memory in GiB), rounded.
            (16 * GIB, None, None, 4 * GIB),
            (64 * GIB, None, None, 8 * GIB),
            (100 * GIB, None, None, 10 * GIB),
            (24 * GIB, None, None, 5 * GIB),
            // A quarter of the free space caps it.
            (8 * GIB, None, Some(8 * GIB), 2 * GIB),
            // maxsize caps it ...
            (8 * GIB, Some(GIB), Some(100 * GIB), GIB),
            (2 * GIB, Some(10485760), None, 10485760),
            // ... unless it is beyond 90 % of the free space.
            (
                8 * GIB,
                Some(10 * GIB),
                Some(2 * GIB),
                (2.0 * GIB as f64 * 0.9) as u64,
            ),
        ];
        for &(mem, max, avail, want) in cases {
            assert_eq!(
                suggested_size(mem, max, avail),
                want,
                "{mem} {max:?} {avail:?}"
            );
        }
    }

    #[test]
    fn settings_and_bad_input() {
        assert_eq!(parse(None).unwrap(), None);
        assert_eq!(parse(Some(&yaml("filename: /swapfile\n"))).unwrap(), None);
        assert_eq!(parse(Some(&yaml("size: 0\n"))).unwrap(), None);
        assert_eq!(
            parse(Some(&yaml("size: 2G\nmaxsize: 2G\n"))).unwrap(),
            Some(Config {
                filename: DEFAULT_FILENAME.into(),
                size: Size::Bytes(2 * GIB),
                maxsize: Some(2 * GIB),
            })
        );
        assert_eq!(
            parse(Some(&yaml(
                "filename: /my/swapfile\nsize: auto\nmaxsize: 10485760\n"
            )))
            .unwrap()
            .unwrap()
            .size,
            Size::Auto
        );
        let err = |t: &str| parse(Some(&yaml(t))).unwrap_err().to_string();
        assert_eq!(
            err("[a]"),
            "cloud-config key `swap` (line 1) must be a mapping, not a list"
        );
        assert!(
            err("size: lots\n").starts_with("cloud-config key `swap.size`: `lots` is not a size")
        );
        assert!(err("size: [1]\n").contains("`swap.size` (line 1)"));
        assert!(err("size: 1G\nmaxsize: auto\n").contains("`swap.maxsize`"));
        assert!(err("size: 1G\nfilename: [x]\n").contains("`swap.filename`"));
    }

    #[test]
    fn an_existing_file_in_use_is_kept_and_auto_reads_memory() {
        let dir = tempfile::tempdir().unwrap();
        let view = MachineView::at(dir.path());
        std::fs::create_dir_all(view.path("/proc/self")).unwrap();
        std::fs::write(
            view.path("/proc/swaps"),
            "Filename Type Size Used Priority\n/swap.img file 1024 0 -2\n",
        )
        .unwrap();
        std::fs::write(view.path("/proc/meminfo"), "MemTotal: 2097152 kB\n").unwrap();
        std::fs::write(
            view.path("/proc/self/mountinfo"),
            "1 0 0:1 / / rw - btrfs /dev/vda1 rw\n",
        )
        .unwrap();
        let cfg = Config {
            filename: "/swap.img".into(),
            size: Size::Auto,
            maxsize: None,
        };
        assert_eq!(
            plan(&cfg, &view, true, None),
            Plan::Keep("/swap.img".into())
        );
        assert_eq!(
            plan(&cfg, &view, false, Some(100 * GIB)),
            Plan::Create {
                filename: "/swap.img".into(),
                mib: 2048,
                dd: true
            }
        );
        // Present but not in use: made again.
        let other = Config {
            filename: "/other.img".into(),
            size: Size::Bytes(64 * MIB),
            maxsize: None,
        };
        assert!(matches!(
            plan(&other, &view, true, None),
            Plan::Create {
                mib: 64,
                dd: true,
                ..
            }
        ));
        std::fs::remove_file(view.path("/proc/swaps")).unwrap();
        assert_eq!(
            plan(&other, &view, true, None),
            Plan::Keep("/other.img".into())
        );
    }

    #[test]
    fn creation_falls_back_to_dd_and_cleans_up_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/swap.img");
        let file = file.to_str().unwrap();
        let mut calls = Vec::new();
        let mut exec = |argv: &[String]| {
            calls.push(argv[0].clone());
            if argv[0] == "dd" {
                std::fs::write(file, b"x").unwrap();
            }
            Ran {
                exit_code: Some(if argv[0] == "fallocate" { 1 } else { 0 }),
                tail: Vec::new(),
            }
        };
        create(file, 4, false, &mut exec).unwrap();
        assert_eq!(calls, ["fallocate", "dd", "mkswap"]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let mut exec = |argv: &[String]| Ran {
            exit_code: Some(if argv[0] == "mkswap" { 1 } else { 0 }),
            tail: Vec::new(),
        };
        let err = create(file, 4, false, &mut exec).unwrap_err();
        assert_eq!(err, format!("`mkswap {file}` failed (exit code 1)"));
        assert!(!std::path::Path::new(file).exists());
        assert_eq!(
            create_commands("/swap.img", 512, false)
                .iter()
                .map(|c| c.join(" "))
                .collect::<Vec<_>>(),
            [
                "fallocate -l 512M /swap.img",
                "dd if=/dev/zero of=/swap.img bs=1M count=512",
                "mkswap /swap.img"
            ]
        );
    }

    #[test]
    fn auto_size_matches_cloud_inits_suggested_swapsize() {
        use super::super::super::system::cloud_inits;
        let mems = [
            GIB / 2,
            2 * GIB,
            4 * GIB - 1,
            4 * GIB,
            15 * GIB,
            16 * GIB,
            20 * GIB + GIB / 4,
            24 * GIB,
            100 * GIB,
            500 * GIB,
        ];
        let maxes = [None, Some(10 * MIB), Some(GIB), Some(20 * GIB)];
        let avails = [None, Some(GIB), Some(8 * GIB), Some(1 << 40)];
        let mut cases = Vec::new();
        for m in mems {
            for x in maxes {
                for a in avails {
                    cases.push((m, x, a));
                }
            }
        }
        let input: Vec<serde_json::Value> = cases
            .iter()
            .map(|(m, x, a)| serde_json::json!([m, x, a]))
            .collect();
        let script = r#"
import json, os, sys
from unittest import mock
from cloudinit.config import cc_mounts
out = []
for mem, mx, avail in json.loads(sys.argv[1]):
    st = type("S", (), {"f_frsize": 1, "f_bfree": avail})
    with mock.patch.object(os, "statvfs", lambda p: st):
        out.append(cc_mounts.suggested_swapsize(memsize=mem, maxsize=mx, fsys="/x" if avail is not None else None))
print(json.dumps(out))
"#;
        let input = serde_json::Value::from(input).to_string();
        for ci in cloud_inits("cloudinit.config.cc_mounts") {
            let version = ci.name;
            let out = ci.python().args(["-c", script, &input]).output().unwrap();
            assert!(
                out.status.success(),
                "cloud-init {version}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs: Vec<u64> = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(theirs.len(), cases.len());
            for ((m, x, a), want) in cases.iter().zip(theirs) {
                assert_eq!(
                    suggested_size(*m, *x, *a),
                    want,
                    "cloud-init {version}: memory {m} maxsize {x:?} free {a:?}"
                );
            }
        }
    }
}
