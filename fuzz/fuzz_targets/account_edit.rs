//! Fuzz the account-file editing: user names, gecos, homes, shells, passwords and group
//! memberships from the input. An edit that is accepted adds exactly the one intended
//! line to `passwd` and to `shadow` (and its own group's line to `group` and `gshadow`),
//! and leaves every other line as it was; a refused edit changes nothing.
#![no_main]

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use strap::boot::modules::accounts::{check_field, check_name, Accounts};
use strap::context::Context;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nbin:x:1:1::/bin:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nwheel:x:10:root\n";
const SHADOW: &str = "root:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n";
const GSHADOW: &str = "root:::\nwheel:::root\n";

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

/// The lines of `after` that are not in `before` (which must all still be there).
fn added(before: &str, after: &str) -> Vec<String> {
    let old = lines(before);
    let new = lines(after);
    assert!(
        new.starts_with(&old),
        "an existing line changed:\n{before}---\n{after}"
    );
    new[old.len()..].to_vec()
}

fn run(root: &Path, data: &[u8]) {
    let etc = root.join("etc");
    fs::create_dir_all(&etc).unwrap();
    for (f, t) in [
        ("passwd", PASSWD),
        ("group", GROUP),
        ("shadow", SHADOW),
        ("gshadow", GSHADOW),
    ] {
        fs::write(etc.join(f), t).unwrap();
    }
    let text = String::from_utf8_lossy(data);
    let mut f = text.splitn(6, '\u{1}');
    let name = f.next().unwrap_or_default();
    let gecos = f.next().unwrap_or_default();
    let home = f.next().unwrap_or_default();
    let shell = f.next().unwrap_or_default();
    let password = f.next();
    let group = f.next().unwrap_or("wheel");
    let ctx = Context::fixed(Vec::<(String, String)>::new(), root);
    let mut a = Accounts::load(&ctx).unwrap();
    let home_abs = format!("/{}", home.trim_start_matches('/'));
    // As the users module: an existing user is not added again.
    if a.has_user(name) {
        return;
    }
    let group_existed = a.has_group(name);
    let result = a.add_user(name, None, None, gecos, &home_abs, shell, password, false);
    if result.is_ok() && check_name(group).is_ok() {
        a.add_member(group, name);
    }
    a.save().unwrap();
    let read = |f: &str| fs::read_to_string(etc.join(f)).unwrap();
    match result {
        Err(_) => {
            assert_eq!(read("passwd"), PASSWD);
            assert_eq!(read("shadow"), SHADOW);
            assert_eq!(read("group"), GROUP);
            assert_eq!(read("gshadow"), GSHADOW);
        }
        Ok(_) => {
            assert!(check_name(name).is_ok());
            for v in [gecos, home, shell, password.unwrap_or_default()] {
                assert!(check_field(v).is_ok());
            }
            let p = added(PASSWD, &read("passwd"));
            assert_eq!(p.len(), 1, "{p:?}");
            assert!(p[0].starts_with(&format!("{name}:x:")));
            assert_eq!(p[0].split(':').count(), 7, "{p:?}");
            let s = added(SHADOW, &read("shadow"));
            assert_eq!(s.len(), 1, "{s:?}");
            assert!(s[0].starts_with(&format!("{name}:")));
            assert_eq!(s[0].split(':').count(), 9, "{s:?}");
            // Its own group, and at most a membership changed on an existing line.
            for (file, before) in [("group", GROUP), ("gshadow", GSHADOW)] {
                let after = read(file);
                let (old, new) = (lines(before), lines(&after));
                let own = usize::from(!group_existed);
                assert_eq!(new.len(), old.len() + own, "{file}: {after}");
                if own == 1 {
                    assert!(new[old.len()].starts_with(&format!("{name}:")));
                }
                for (o, n) in old.iter().zip(&new) {
                    let key = |l: &str| l.split(':').next().map(str::to_string);
                    assert_eq!(key(o), key(n), "{file}: a line's name changed");
                    assert_eq!(o.split(':').count(), n.split(':').count());
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir().join(format!(
        "strap-fuzz-acct-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    run(&base, data);
    let _ = fs::remove_dir_all(&base);
});
