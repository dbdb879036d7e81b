//! Fuzzes the YAML 1.1 loader with arbitrary bytes, then runs what the boot runs on a
//! loaded document (schema check, merging, JSON and repr output): none of it may panic,
//! overflow the stack or run away in time or memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strap::cloudconfig::{self, schema};

fuzz_target!(|data: &[u8]| {
    let Ok(node) = cloudconfig::load_bytes(data) else {
        return;
    };
    let _ = schema::validate(&node);
    let _ = node.to_json();
    let _ = node.to_python_repr();
    let parts = vec![
        (node.clone(), None),
        (
            node,
            Some("dict(no_replace,recurse_list,recurse_str)+list(append)+str(append)".to_string()),
        ),
    ];
    let merged = cloudconfig::merge_all(&parts);
    let _ = schema::validate(&merged.config);
});
