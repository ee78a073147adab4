"""Case 3 of tests/runtime/run.sh: `gcannon agent` in a runner-shaped bundle
against the API server stand-in of tests/e2e/emulated.

The real operator runs on the host; the stand-in's kubelet starts each runner
pod through `oci.py pod`, so the agent runs under runc as uid 65532 on a
read-only root with the chart's seccomp profile. It must read its environment
(downward API, kubeconfig), resolve its plan from the LoadTest and report its
shard. Prints one line of detail on success; raises (exit 1) with the reason.

Usage: agent_case.py REPO POD_LAUNCHER"""

from __future__ import annotations

import os
import sys

REPO, LAUNCHER = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(REPO, "tests", "e2e", "emulated"))

from standin import Cluster  # noqa: E402

RUNNERS = 2


def main() -> None:
    with Cluster(REPO) as c:
        # Every pod's `gcannon` goes through runc instead of running on the host.
        c.kubelet.binaries["gcannon"] = LAUNCHER
        c.start_operator()
        target = c.start_target()
        lt = {"apiVersion": "glasscannon.dev/v1alpha1", "kind": "LoadTest", "metadata": {"name": "in-runc"},
              "spec": {"target": target.url, "warmup": "0s", "duration": "1s", "runners": RUNNERS,
                       "connections": 2 * RUNNERS, "thresholds": ["errors == 0", "status_2xx > 0"]}}
        c.client.create("loadtests", c.namespace, lt)
        o = c.wait_for("loadtests", "in-runc", lambda o: ((o or {}).get("status") or {}).get("phase")
                       in ("Succeeded", "Failed"), 90, "the LoadTest to finish")
        st = o["status"]
        pod_logs = c.logs()
        launched = pod_logs.count("runtime: runc ")
        if launched < RUNNERS:
            raise AssertionError(f"{launched} pods went through runc, expected {RUNNERS}:\n{pod_logs[-3000:]}")
        if st.get("phase") != "Succeeded" or st.get("verdict") != "Passed":
            raise AssertionError(f"phase {st.get('phase')}, verdict {st.get('verdict')}: {st.get('message')}\n"
                                 + pod_logs[-3000:])
        shards = st.get("shards") or []
        indexes = sorted(s["index"] for s in shards)
        if indexes != list(range(RUNNERS)):
            raise AssertionError(f"shards reported: {indexes}")
        # Each agent wrote its full report into its own RunnerResult.
        results = c.client.list("runnerresults", c.namespace, "glasscannon.dev/loadtest=in-runc")
        responses = [r["status"]["report"]["responses"] for r in sorted(results, key=lambda r: r["spec"]["index"])]
        if len(responses) != RUNNERS or not all(r > 0 for r in responses) \
                or [s["responses"] for s in sorted(shards, key=lambda s: s["index"])] != responses \
                or st["summary"]["responses"] != sum(responses):
            raise AssertionError(f"runner results {responses}, shards {shards}, summary {st['summary']['responses']}")
        print(f"{RUNNERS} agents under runc reported shards of {responses} responses, verdict Passed")


if __name__ == "__main__":
    main()
