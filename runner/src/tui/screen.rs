//! The live view on the real terminal: the alternate screen in raw mode,
//! drawn by its own thread so keys and resizes are handled at once while the
//! main thread runs the load. Frames arrive over a channel once a second;
//! `q`, Esc and Ctrl-C call the stop handler, `p` freezes the display (not
//! the load). When the view ends the terminal is restored and the results
//! print on the normal screen, into the scrollback.

use std::io::IsTerminal;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::DefaultTerminal;

use super::live::{LiveFrame, LiveState};

/// A key that stops the run from the live view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopKey {
    /// `q`.
    Q,
    /// Esc.
    Esc,
    /// Ctrl-C (raw mode delivers it as a key): reported as SIGINT would be.
    CtrlC,
    /// The terminal went away: reported as the SIGHUP it stands for.
    HangUp,
}

/// How often the view redraws between frames (the warm-up countdown, keys).
const TICK: Duration = Duration::from_millis(100);

enum Msg {
    Frame(Box<LiveFrame>),
    Finish,
}

/// A running live view; see [`LiveView::start`].
pub struct LiveView {
    tx: Sender<Msg>,
    handle: Option<JoinHandle<std::io::Result<LiveState>>>,
}

impl LiveView {
    /// Take over the terminal and draw `state` until [`LiveView::finish`].
    /// `None` when stdout is not a terminal (the caller prints a plain
    /// progress line instead). `on_stop` runs (on the view's thread) when a
    /// stop key is pressed.
    pub fn start(
        state: LiveState,
        on_stop: impl Fn(StopKey) + Send + 'static,
    ) -> std::io::Result<Option<LiveView>> {
        if !std::io::stdout().is_terminal() {
            return Ok(None);
        }
        let terminal = ratatui::try_init()?;
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("gcannon-tui".into())
            .spawn(move || match draw_loop(terminal, state, rx, on_stop) {
                // Nothing to restore on a terminal that is gone.
                Ok((state, Ended::HungUp)) => Ok(state),
                other => {
                    ratatui::restore();
                    other.map(|(state, _)| state)
                }
            })
            .inspect_err(|_| ratatui::restore())?;
        Ok(Some(LiveView {
            tx,
            handle: Some(handle),
        }))
    }

    /// Show a new frame (kept but not shown while paused).
    pub fn update(&self, frame: LiveFrame) {
        let _ = self.tx.send(Msg::Frame(Box::new(frame)));
    }

    /// Close the view and give the terminal back; returns the last state.
    pub fn finish(mut self) -> std::io::Result<LiveState> {
        let _ = self.tx.send(Msg::Finish);
        let handle = self.handle.take().expect("finished once");
        handle
            .join()
            .map_err(|_| std::io::Error::other("the live view's thread panicked"))?
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        // An early return must not leave the terminal in raw mode.
        if let Some(h) = self.handle.take() {
            let _ = self.tx.send(Msg::Finish);
            let _ = h.join();
        }
    }
}

/// How the view ended.
enum Ended {
    /// Finished, or its channel closed: the terminal is to be restored.
    Closed,
    /// The terminal went away.
    HungUp,
}

fn draw_loop(
    mut terminal: DefaultTerminal,
    mut state: LiveState,
    rx: Receiver<Msg>,
    on_stop: impl Fn(StopKey),
) -> std::io::Result<(LiveState, Ended)> {
    let started = Instant::now();
    // What is on screen: the live state, or a copy frozen by `p`.
    let mut frozen: Option<LiveState> = None;
    loop {
        state.tick(started.elapsed());
        let shown = frozen.as_ref().unwrap_or(&state);
        // A terminal that cannot be drawn on has gone (the write failed before
        // stdin reported the hang-up): the same as a hang-up.
        let drawn = terminal.draw(|f| f.render_widget(shown, f.area())).is_ok();
        // Keys and resizes first, then frames, so a redraw follows either at once.
        // The wait is ours, not crossterm's: on a closed terminal stdin reads
        // as endless end-of-file, on which crossterm's reader spins forever.
        if !drawn || wait_stdin(TICK) == Stdin::HungUp {
            on_stop(StopKey::HangUp);
            // Its drop would write to the closed terminal and panic on the error.
            std::mem::forget(terminal);
            return Ok((state, Ended::HungUp));
        }
        // Resizes arrive through crossterm's own signal pipe, so ask it each tick.
        while event::poll(Duration::ZERO)? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => match stop_key(&k) {
                    Some(key) => on_stop(key),
                    None if k.code == KeyCode::Char('p') => {
                        frozen = match frozen {
                            Some(_) => None,
                            None => {
                                let mut copy = state.clone();
                                copy.set_paused(true);
                                Some(copy)
                            }
                        };
                    }
                    None => {}
                },
                _ => {}
            }
        }
        loop {
            match rx.recv_timeout(Duration::ZERO) {
                Ok(Msg::Frame(f)) => state.update(*f),
                Ok(Msg::Finish) | Err(RecvTimeoutError::Disconnected) => {
                    return Ok((state, Ended::Closed))
                }
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
    }
}

#[derive(PartialEq)]
enum Stdin {
    /// A key (or nothing within the wait).
    Ready,
    /// The terminal has gone: its window closed, tmux killed.
    HungUp,
}

/// Wait up to `timeout` for input on the terminal.
fn wait_stdin(timeout: Duration) -> Stdin {
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut fd, 1, timeout.as_millis() as libc::c_int) };
    if ready > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        Stdin::HungUp
    } else {
        Stdin::Ready
    }
}

fn stop_key(k: &KeyEvent) -> Option<StopKey> {
    match k.code {
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Some(StopKey::CtrlC),
        KeyCode::Char('q') | KeyCode::Char('Q') => Some(StopKey::Q),
        KeyCode::Esc => Some(StopKey::Esc),
        _ => None,
    }
}
