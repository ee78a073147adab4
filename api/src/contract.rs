//! The runner contract: what the operator's Job gives each runner pod and what
//! the agent in it reads back (environment names, labels, the agent's command,
//! field managers). Both sides import these, so a rename cannot split them.

/// Environment variable naming the LoadTest.
pub const ENV_LOADTEST: &str = "GC_LOADTEST";
/// Environment variable holding the LoadTest's namespace (downward API).
pub const ENV_NAMESPACE: &str = "GC_NAMESPACE";
/// Environment variable holding this pod's name (downward API).
pub const ENV_POD: &str = "POD_NAME";
/// Environment variable holding the node's name (downward API).
pub const ENV_NODE: &str = "NODE_NAME";
/// Environment variable the Indexed Job controller sets to this runner's index.
pub const ENV_INDEX: &str = "JOB_COMPLETION_INDEX";
/// Optional override of how long to wait for `status.startAt`, in seconds.
pub const ENV_START_TIMEOUT: &str = "GC_START_TIMEOUT_SECONDS";
/// Address of the runner's `/metrics` endpoint (the Job sets it; unset: none).
pub const ENV_METRICS_LISTEN: &str = "GC_METRICS_LISTEN";
/// How long the endpoint keeps serving the final numbers after the run, in seconds.
pub const ENV_METRICS_LINGER: &str = "GC_METRICS_LINGER_SECONDS";

/// `app.kubernetes.io/name` of runner pods and their Job.
pub const RUNNER_NAME: &str = "glass-cannon-runner";
/// `app.kubernetes.io/managed-by` of what the operator creates, and its controller name.
pub const OPERATOR_NAME: &str = "glass-cannon-operator";
/// Label put on every runner pod, valued with the LoadTest's name.
pub const LOADTEST_LABEL: &str = "glasscannon.dev/loadtest";
/// The runner container's command.
pub const AGENT_COMMAND: [&str; 2] = ["gcannon", "agent"];

/// The field manager of runner `index`: one per runner so runners never fight over fields.
pub fn runner_field_manager(index: u32) -> String {
    format!("{RUNNER_NAME}-{index}")
}
