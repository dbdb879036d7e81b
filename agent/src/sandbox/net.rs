//! The sandbox's network: a fresh network namespace holds only `lo`. This brings it up and
//! adds 169.254.169.254/32 to it (as the alias `lo:imds`), so that the metadata service
//! answers on the real address and nothing else is reachable. It only ever runs inside the
//! sandbox's network namespace.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use super::SandboxError;

fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    #[allow(unsafe_code)]
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *dst = src as libc::c_char;
    }
    req
}

fn sockaddr(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sockaddr_in` and `sockaddr` have the same size; this is how the interface
    // ioctls take an IPv4 address.
    #[allow(unsafe_code)]
    unsafe {
        std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin)
    }
}

fn ioctl(
    sock: &OwnedFd,
    request: libc::Ioctl,
    req: &mut libc::ifreq,
    step: &'static str,
) -> Result<(), SandboxError> {
    // SAFETY: `sock` is an open socket and `req` a valid `ifreq` for these requests.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request, req as *mut libc::ifreq) };
    if rc < 0 {
        return Err(SandboxError::Network {
            step,
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

fn set_up(sock: &OwnedFd, name: &str, step: &'static str) -> Result<(), SandboxError> {
    let mut req = ifreq(name);
    ioctl(sock, libc::SIOCGIFFLAGS as libc::Ioctl, &mut req, step)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    #[allow(unsafe_code)]
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    ioctl(sock, libc::SIOCSIFFLAGS as libc::Ioctl, &mut req, step)
}

/// Bring `lo` up and give it `addr`/32 besides 127.0.0.1.
pub fn loopback_with(addr: Ipv4Addr) -> Result<(), SandboxError> {
    let sock: OwnedFd = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| SandboxError::Network {
        step: "open a socket",
        source: e.into(),
    })?;
    set_up(&sock, "lo", "bring lo up")?;
    let alias = "lo:imds";
    let mut req = ifreq(alias);
    req.ifr_ifru.ifru_addr = sockaddr(addr);
    ioctl(
        &sock,
        libc::SIOCSIFADDR as libc::Ioctl,
        &mut req,
        "add the metadata address to lo",
    )?;
    let mut req = ifreq(alias);
    req.ifr_ifru.ifru_netmask = sockaddr(Ipv4Addr::BROADCAST);
    ioctl(
        &sock,
        libc::SIOCSIFNETMASK as libc::Ioctl,
        &mut req,
        "set the metadata address's netmask",
    )?;
    set_up(&sock, alias, "bring the metadata address up")
}
