//! SIGINT, SIGTERM and SIGHUP all stop a run the same way: the engine ends
//! early, the partial result is printed marked as interrupted, and the exit
//! code is [`super::EXIT_INTERRUPTED`]. `timeout`, a CI cancel and Kubernetes
//! send SIGTERM; a closed terminal sends SIGHUP. In the `--tui` live view
//! the terminal is in raw mode, so Ctrl-C, `q` and Esc arrive as keys and
//! stop the run the same way through [`stop_by_key`].

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crate::tui::StopKey;

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

/// Stand-ins for a signal number when a key of the live view stopped the run.
const KEY_Q: libc::c_int = -1;
const KEY_ESC: libc::c_int = -2;

/// Stop the run as a stop signal would, naming the key in the results.
pub fn stop_by_key(key: StopKey) {
    let code = match key {
        StopKey::Q => KEY_Q,
        StopKey::Esc => KEY_ESC,
        StopKey::CtrlC => libc::SIGINT,
        StopKey::HangUp => libc::SIGHUP,
    };
    // The first reason stays, as with signals.
    let _ = SIGNAL.compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// What interrupted the run, if anything: `"SIGINT"`, `"SIGTERM"`,
/// `"SIGHUP"`, or `"q pressed"` / `"Esc pressed"` in the live view.
pub fn interrupted_by() -> Option<&'static str> {
    if !INTERRUPTED.load(Ordering::Relaxed) {
        return None;
    }
    Some(match SIGNAL.load(Ordering::Relaxed) {
        KEY_Q => "q pressed",
        KEY_ESC => "Esc pressed",
        sig => signal_name(sig),
    })
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
