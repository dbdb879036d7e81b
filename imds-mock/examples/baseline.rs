//! Benchmark baseline: the smallest hyper server that answers every request with the same
//! bytes the mock sends for a token-authenticated `GET /latest/meta-data/instance-id`
//! (no token check, no tree, no state): the same status line, the same headers (`server`,
//! `content-type`, the TTL, `accept-ranges`, `last-modified`, `connection` in close mode;
//! hyper adds `content-length` and `date` to both) and the same body.
//! `bench/mock/run.sh` compares the mock against it.
//!
//! Usage: `baseline ADDR [close|keep-alive]`; prints `listening on http://HOST:PORT`.
use std::convert::Infallible;

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT_RANGES, CONNECTION, CONTENT_TYPE, LAST_MODIFIED, SERVER};
use http::{Request, Response};
use http_body_util::Full;
use hyper_util::rt::TokioIo;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let close = args.next().as_deref() != Some("keep-alive");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |_req: Request<hyper::body::Incoming>| async move {
                        let mut resp =
                            Response::new(Full::new(Bytes::from_static(b"i-0b22a22eec53b9321")));
                        let h = resp.headers_mut();
                        h.insert(SERVER, HeaderValue::from_static("EC2ws"));
                        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                        h.insert(
                            "x-aws-ec2-metadata-token-ttl-seconds",
                            HeaderValue::from(21599u32),
                        );
                        h.insert(ACCEPT_RANGES, HeaderValue::from_static("none"));
                        h.insert(
                            LAST_MODIFIED,
                            HeaderValue::from_static("Fri, 27 Nov 2026 20:58:44 GMT"),
                        );
                        if close {
                            h.insert(CONNECTION, HeaderValue::from_static("close"));
                        }
                        Ok::<_, Infallible>(resp)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
