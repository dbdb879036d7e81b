//! Fuzz the user-data decoding pipeline: any bytes must decode or fail with an error,
//! within the caps, never panic. Includes are off (no network); templates render against
//! a small instance-data document.
#![no_main]

use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use strap::userdata::{decode, DecodeOptions, IncludeOptions, Limits};

fn options() -> &'static DecodeOptions {
    static OPTS: OnceLock<DecodeOptions> = OnceLock::new();
    OPTS.get_or_init(|| DecodeOptions {
        launch_index: Some(0),
        instance_data: Some(serde_json::json!({
            "v1": {"instance_id": "i-0123", "local-hostname": "h"}
        })),
        include: IncludeOptions {
            enabled: false,
            ..IncludeOptions::default()
        },
        limits: Limits {
            max_depth: 8,
            max_parts: 200,
            max_bytes: 4 << 20,
        },
        ..DecodeOptions::default()
    })
}

fuzz_target!(|data: &[u8]| {
    // With includes off nothing awaits I/O, so one poll finishes the future.
    let mut fut = std::pin::pin!(decode(data, options()));
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(decoded)) => {
            let total: usize = decoded.parts.iter().map(|p| p.payload.len()).sum();
            assert!(total <= options().limits.max_bytes);
            assert!(decoded.parts.len() <= options().limits.max_parts);
        }
        Poll::Ready(Err(err)) => {
            let _ = err.to_string();
        }
        Poll::Pending => panic!("decode waited on I/O with includes off"),
    }
});
