//! Telling the service manager how the boot goes (`sd_notify`): `READY=1` once the
//! network stage is done, so that units ordered after `strap.service` (and everything
//! after `sysinit.target`) start only when the files, users, ssh keys and hostname of
//! that stage exist, and `STATUS=` lines that `systemctl status strap` shows. Without
//! `$NOTIFY_SOCKET` (not under systemd, a container, `--root`) every call does nothing.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::context::Context;

/// The variable systemd sets for `Type=notify` services.
pub const ENV_NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

static READY_SENT: AtomicBool = AtomicBool::new(false);

/// Send one notification (`READY=1`, `STATUS=…`); failures are logged at debug level only
/// (the boot never depends on the service manager listening).
pub fn notify(ctx: &Context, message: &str) {
    let Some(socket) = ctx.var(ENV_NOTIFY_SOCKET).filter(|s| !s.is_empty()) else {
        return;
    };
    if let Err(err) = send(&socket, message) {
        tracing::debug!("cannot notify the service manager at {socket}: {err}");
    }
}

/// `READY=1`, once per process (later calls do nothing).
pub fn ready(ctx: &Context, status: &str) {
    if READY_SENT.swap(true, Ordering::SeqCst) {
        return;
    }
    notify(ctx, &format!("READY=1\nSTATUS={status}"));
}

fn send(socket: &str, message: &str) -> std::io::Result<()> {
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let addr = match socket.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        }
        None => SocketAddr::from_pathname(socket)?,
    };
    let sock = UnixDatagram::unbound()?;
    sock.send_to_addr(message.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_the_socket_and_nothing_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let ctx = Context::fixed([(ENV_NOTIFY_SOCKET, path.to_str().unwrap())], "/");
        notify(&ctx, "STATUS=waiting");
        let mut buf = [0u8; 256];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STATUS=waiting");
        // No socket: nothing is sent and nothing fails.
        notify(
            &Context::fixed::<[(&str, &str); 0], _, _>([], "/"),
            "READY=1",
        );
        assert!(listener.recv(&mut buf).is_err());
    }
}
