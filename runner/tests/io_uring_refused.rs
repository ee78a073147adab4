//! io_uring refused by seccomp (as Docker's default profile does) or missing
//! (ENOSYS) ends the run at start with the cause and the fix, exit status 2.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Run gcannon under a seccomp filter that fails `io_uring_setup` with `errno`.
fn gcannon_without_io_uring(errno: i32) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gcannon"));
    cmd.args(["http://127.0.0.1:9/", "-d", "1s", "-c", "1"]);
    cmd.env(
        "GCANNON_HISTORY",
        std::env::temp_dir().join("gcannon-test-refused-history.json"),
    );
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl) on data it owns.
    unsafe {
        cmd.pre_exec(move || {
            let filter = [
                // Load the syscall number, fail io_uring_setup (425), allow the rest.
                libc::sock_filter {
                    code: 0x20,
                    jt: 0,
                    jf: 0,
                    k: 0,
                },
                libc::sock_filter {
                    code: 0x15,
                    jt: 0,
                    jf: 1,
                    k: libc::SYS_io_uring_setup as u32,
                },
                libc::sock_filter {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0x0005_0000 | errno as u32,
                },
                libc::sock_filter {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0x7fff_0000,
                },
            ];
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut _,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, 2, &prog as *const libc::sock_fprog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("gcannon starts")
}

#[test]
fn seccomp_eperm_names_seccomp_and_the_fix() {
    let out = gcannon_without_io_uring(libc::EPERM);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("seccomp"), "{err}");
    assert!(err.contains("io_uring_setup"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn enosys_names_the_kernel_or_sandbox() {
    let out = gcannon_without_io_uring(libc::ENOSYS);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("gVisor") && err.contains("kernel"), "{err}");
}
