//! `gcannon demo`: the built-in server on an ephemeral loopback port, in this
//! process, and a short load test against it. Needs nothing but this binary.

use api::plan::LoadPlan;

use super::args::DemoArgs;
use super::{emit, execute, finish, signals, warn, Mode, EXIT_FAILED};
use crate::engine::{Run, RunOptions};
use crate::output::Ending;
use crate::serve::{start, start_tls, ServeConfig};

/// Run the demo and return the exit code.
pub fn run(a: &DemoArgs) -> Result<i32, String> {
    let cfg = ServeConfig {
        listen: "127.0.0.1:0".parse().expect("static address"),
        threads: 1,
    };
    let server = if a.tls {
        let tls = crate::tls::server_config(&crate::tls::ServerCert::SelfSigned)
            .map_err(|e| e.to_string())?;
        start_tls(&cfg, tls)
    } else {
        start(&cfg)
    }
    .map_err(|e| format!("cannot start the built-in server: {e}"))?;
    let scheme = if a.tls { "https" } else { "http" };
    let plan = LoadPlan {
        target: format!("{scheme}://{}/", server.local_addr()),
        // The demo's own certificate is self-signed and made a moment ago.
        tls: api::plan::TlsPlan {
            insecure: a.tls,
            ..Default::default()
        },
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
