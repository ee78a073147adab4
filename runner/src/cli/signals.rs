//! SIGINT, SIGTERM and SIGHUP all stop a run the same way: the engine ends
//! early, the partial result is printed marked as interrupted, and the exit
//! code is [`super::EXIT_INTERRUPTED`]. `timeout`, a CI cancel and Kubernetes
//! send SIGTERM; a closed terminal sends SIGHUP.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Set by a stop signal; the engine stops and the results so far are printed.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The signal that set [`INTERRUPTED`] (0 when none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The signals that stop a run and keep its results.
pub const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::Relaxed);
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Route `signals` to [`INTERRUPTED`]; a second one of the same kind kills the
/// process as usual (so a stuck run can still be ended).
pub fn install(signals: &[libc::c_int]) {
    for &sig in signals {
        // SAFETY: the handler only stores to atomics, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESETHAND;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Which stop signal interrupted the run, if any: `"SIGINT"`, `"SIGTERM"`, `"SIGHUP"`.
pub fn interrupted_by() -> Option<&'static str> {
    if !INTERRUPTED.load(Ordering::Relaxed) {
        return None;
    }
    Some(signal_name(SIGNAL.load(Ordering::Relaxed)))
}

/// The conventional name of a signal number, for messages.
pub fn signal_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGBUS => "SIGBUS",
        _ => "a signal",
    }
}
