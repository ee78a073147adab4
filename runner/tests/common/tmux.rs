//! A private tmux server with one pane of a fixed size: the real terminal the
//! `--tui` and `watch` tests draw on and read back with `capture-pane`.

use std::process::Command;
use std::time::Duration;

/// One tmux server (`-L NAME`), killed however the test ends.
pub struct Tmux(String);

impl Tmux {
    /// Start `command` in a detached `width`×`height` pane; `None` when tmux
    /// is not installed (and not required: see [`super::have_tool`]).
    pub fn start(name: &str, width: u16, height: u16, command: &str) -> Option<Tmux> {
        if !super::have_tool("tmux", "-V") {
            return None;
        }
        let tmux = Tmux(format!("gcannon-{name}-{}", std::process::id()));
        let status = Command::new("tmux")
            .env_remove("TMUX")
            .args(["-L", &tmux.0, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session failed");
        Some(tmux)
    }

    /// The pane as text, with up to 300 lines of scrollback.
    pub fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.0, "capture-pane", "-p", "-J", "-S", "-300"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Capture until `done` holds (polling for up to a minute: a bound for a
    /// stuck test, not a timing assertion); the last capture either way.
    pub fn capture_until(&self, done: impl Fn(&str) -> bool) -> String {
        let mut screen = String::new();
        for _ in 0..600 {
            screen = self.capture();
            if done(&screen) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        screen
    }

    /// Type `keys` into the pane (tmux key names: `q`, `Escape`, `C-c`).
    pub fn send_keys(&self, keys: &str) {
        let status = Command::new("tmux")
            .args(["-L", &self.0, "send-keys", keys])
            .status()
            .expect("tmux send-keys");
        assert!(status.success(), "tmux send-keys {keys}");
    }

    /// Resize the pane's window, as a user dragging the terminal would.
    pub fn resize(&self, width: u16, height: u16) {
        let status = Command::new("tmux")
            .args(["-L", &self.0, "resize-window"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .status()
            .expect("tmux resize-window");
        assert!(status.success(), "tmux resize-window");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .output();
    }
}
