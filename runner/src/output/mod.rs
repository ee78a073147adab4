//! Rendering a run's result for people (text) and for scripts (`--json`).

pub mod format;
pub mod hlog;
pub mod json;
pub mod junit;
pub mod text;

pub use json::render_json;
pub use text::{render_banner, render_result, render_verdicts};

use api::plan::LoadPlan;

/// Open model (constant rate or ramping stages) rather than the closed model.
pub fn is_rate_mode(plan: &LoadPlan) -> bool {
    plan.rate.is_some() || !plan.stages.is_empty()
}

/// `"ws"` in WebSocket echo mode, `"http"` otherwise (the original's values).
pub fn mode(plan: &LoadPlan) -> &'static str {
    if plan.websocket.is_some() {
        "ws"
    } else {
        "http"
    }
}
