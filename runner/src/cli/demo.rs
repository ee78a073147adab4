//! `gcannon demo`: the built-in server on an ephemeral loopback port, in this
//! process, and a short load test against it. Needs nothing but this binary.

use api::plan::LoadPlan;

use super::args::DemoArgs;
use super::{emit, execute, finish, signals, warn, Mode, EXIT_FAILED};
use crate::engine::{Run, RunOptions};
use crate::output::Ending;
use crate::serve::{start, ServeConfig};

/// Run the demo and return the exit code.
pub fn run(a: &DemoArgs) -> Result<i32, String> {
    let server = start(&ServeConfig {
        listen: "127.0.0.1:0".parse().expect("static address"),
        threads: 1,
    })
    .map_err(|e| format!("cannot start the built-in server: {e}"))?;
    let plan = LoadPlan {
        target: format!("http://{}/", server.local_addr()),
        connections: a.connections,
        pipeline: a.pipeline,
        duration: a.duration,
        ..LoadPlan::default()
    };
    let run = Run::new(&plan, &RunOptions::default()).map_err(|e| e.to_string())?;
    let mode = if a.json { Mode::Json } else { Mode::Text };
    let (report, mode) = execute(run, &plan, mode)?;
    let ending = Ending {
        interrupted: signals::interrupted_by().map(String::from),
        ..Ending::default()
    };
    let mut code = finish(&plan, &report, &[], &ending, mode, 10, &[]);
    if mode == Mode::Text {
        let line = format!(
            "  Built-in server answered {} requests in all (warm-up included).\n",
            server.requests()
        );
        if let Err(e) = emit(&line) {
            warn(&e);
            code = EXIT_FAILED;
        }
    }
    server.shutdown();
    Ok(code)
}
