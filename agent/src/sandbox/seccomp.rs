//! The boot's seccomp filter: a short deny list against the known ways out of a container
//! and the kernel interfaces most exploits go through, on top of the capabilities the boot
//! no longer has. Every other system call is allowed: a boot runs arbitrary programs.
//!
//! Refused with `EPERM`: file handles (`open_by_handle_at`), `kexec`, kernel modules,
//! `bpf`, `perf_event_open`, the kernel keyring (not namespaced), `userfaultfd`,
//! `io_uring`, swap, process accounting, the kernel log, setting the clock, and new user
//! namespaces (`unshare` or `clone` with `CLONE_NEWUSER`: a nested one would give back
//! every capability over namespaces of its own, the path of most namespace exploits).
//! `clone3`, whose flags a filter cannot read, answers `ENOSYS`, so libc falls back to
//! `clone`. System calls of another ABI (32-bit, x32) are refused.
//!
//! The program is built before the fork ([`Filter::new`]); [`Filter::install`] is one
//! `prctl` call, safe between `fork` and `exec`. On architectures other than x86-64 and
//! aarch64 there is no filter.

use std::io;

/// `struct sock_filter`: one classic BPF instruction.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct Instruction {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
struct Program {
    len: libc::c_ushort,
    filter: *const Instruction,
}

// Classic BPF opcodes (`linux/filter.h`): `BPF_LD | BPF_W | BPF_ABS`,
// `BPF_JMP | BPF_JEQ | BPF_K` (and `JGE`, `JSET`), `BPF_RET | BPF_K`.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_JMP_JGE_K: u16 = 0x35;
const BPF_JMP_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;

// `linux/seccomp.h`.
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_MODE_FILTER: libc::c_ulong = 2;

// Offsets in `struct seccomp_data`: `nr`, `arch`, the low half of `args[0]`.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const OFFSET_ARG0_LOW: u32 = 16;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_003e);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_00b7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

/// x32 system calls on x86-64 have this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Refused outright.
const DENIED: [libc::c_long; 22] = [
    libc::SYS_open_by_handle_at,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_keyctl,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_syslog,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
];

/// Refused when their first argument (the flags) asks for a new user namespace.
const NO_NEW_USER_NAMESPACE: [libc::c_long; 2] = [libc::SYS_unshare, libc::SYS_clone];

/// The boot's filter, built before the fork.
#[derive(Debug)]
pub struct Filter {
    instructions: Vec<Instruction>,
}

fn statement(code: u16, k: u32) -> Instruction {
    Instruction {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Instruction {
    Instruction { code, jt, jf, k }
}

fn errno(code: i32) -> u32 {
    SECCOMP_RET_ERRNO | (code as u32 & 0xffff)
}

impl Filter {
    /// The filter for this architecture, or `None` where there is none.
    pub fn new() -> Option<Self> {
        let arch = AUDIT_ARCH?;
        let eperm = statement(BPF_RET_K, errno(libc::EPERM));
        let mut p = vec![
            statement(BPF_LD_W_ABS, OFFSET_ARCH),
            jump(BPF_JMP_JEQ_K, arch, 1, 0),
            eperm,
            statement(BPF_LD_W_ABS, OFFSET_NR),
        ];
        if cfg!(target_arch = "x86_64") {
            p.push(jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1));
            p.push(eperm);
        }
        for nr in DENIED {
            p.push(jump(BPF_JMP_JEQ_K, nr as u32, 0, 1));
            p.push(eperm);
        }
        p.push(jump(BPF_JMP_JEQ_K, libc::SYS_clone3 as u32, 0, 1));
        p.push(statement(BPF_RET_K, errno(libc::ENOSYS)));
        for nr in NO_NEW_USER_NAMESPACE {
            // Not this call: skip the four instructions below, the number still loaded.
            p.push(jump(BPF_JMP_JEQ_K, nr as u32, 0, 4));
            p.push(statement(BPF_LD_W_ABS, OFFSET_ARG0_LOW));
            p.push(jump(BPF_JMP_JSET_K, libc::CLONE_NEWUSER as u32, 0, 1));
            p.push(eperm);
            p.push(statement(BPF_RET_K, SECCOMP_RET_ALLOW));
        }
        p.push(statement(BPF_RET_K, SECCOMP_RET_ALLOW));
        Some(Self { instructions: p })
    }

    /// Install the filter on this thread (after `no_new_privs`); it passes to every
    /// process started from it. Only a system call: safe between `fork` and `exec`.
    pub fn install(&self) -> io::Result<()> {
        let program = Program {
            len: self.instructions.len() as libc::c_ushort,
            filter: self.instructions.as_ptr(),
        };
        // SAFETY: `program` points at `len` valid instructions, alive for the call; the
        // kernel copies them.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                SECCOMP_MODE_FILTER,
                &program as *const Program,
                0,
                0,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_lands_inside_the_program_and_it_ends_with_a_return() {
        let Some(filter) = Filter::new() else {
            return;
        };
        let p = &filter.instructions;
        assert!(p.len() < 4096, "{}", p.len());
        for (i, ins) in p.iter().enumerate() {
            if ins.code & 0x07 == 0x05 {
                assert!(i + 1 + usize::from(ins.jt) < p.len(), "jt at {i}");
                assert!(i + 1 + usize::from(ins.jf) < p.len(), "jf at {i}");
            }
        }
        assert_eq!(p.last().map(|i| i.code), Some(BPF_RET_K));
    }
}
