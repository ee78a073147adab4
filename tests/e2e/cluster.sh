#!/usr/bin/env bash
# End-to-end on a real cluster (kind, k3d, or any reachable one):
#   install the chart, run `gcannon serve` in the cluster as the target, apply a
#   LoadTest, wait for Complete, print the status and check the verdict.
#
# Usage: tests/e2e/cluster.sh   (exit 0 pass, 1 fail, 2 no cluster/tools: not run)
# Env:   IMAGE      image holding gcannon + operator (default ghcr.io/glass-cannon/glass-cannon:latest);
#                   on kind, load a local build first: kind load docker-image "$IMAGE"
#        NAMESPACE  namespace for everything (default glass-cannon-e2e)
#        SECCOMP    Localhost | RuntimeDefault | Unconfined (default Localhost)
#        TIMEOUT    wait for Complete (default 5m)
#        KEEP=1     leave the namespace behind for inspection
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
IMAGE="${IMAGE:-ghcr.io/glass-cannon/glass-cannon:latest}"
NAMESPACE="${NAMESPACE:-glass-cannon-e2e}"
SECCOMP="${SECCOMP:-Localhost}"
TIMEOUT="${TIMEOUT:-5m}"
RELEASE=glass-cannon
LT=e2e

die() { echo "cluster.sh: $*" >&2; exit 1; }

for tool in kubectl helm; do
  if ! command -v "$tool" >/dev/null; then
    echo "cluster.sh: $tool is not installed; this script needs kubectl, helm and a reachable cluster (not run)."
    exit 2
  fi
done
if ! kubectl version --request-timeout=5s >/dev/null 2>&1; then
  echo "cluster.sh: no Kubernetes cluster is reachable (kubectl context: $(kubectl config current-context 2>/dev/null || echo none))."
  echo "Start one, e.g. 'kind create cluster' or 'k3d cluster create', then run this script again."
  exit 2
fi

repo="${IMAGE%:*}"; tag="${IMAGE##*:}"
[ "$repo" = "$IMAGE" ] && tag=latest

cleanup() {
  if [ "${KEEP:-0}" != 1 ]; then
    kubectl delete namespace "$NAMESPACE" --ignore-not-found --wait=false >/dev/null || true
  fi
}
trap cleanup EXIT

echo "==> CRD and chart (image $IMAGE, seccomp $SECCOMP) into namespace $NAMESPACE"
kubectl apply -f "$ROOT/crds/loadtest.yaml"
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
helm upgrade --install "$RELEASE" "$ROOT/charts/glass-cannon" \
  --namespace "$NAMESPACE" \
  --set image.repository="$repo" --set image.tag="$tag" \
  --set seccomp.mode="$SECCOMP" \
  --wait --timeout 5m

echo "==> in-cluster target: gcannon serve"
kubectl apply -n "$NAMESPACE" -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: target
spec:
  replicas: 1
  selector: {matchLabels: {app: target}}
  template:
    metadata: {labels: {app: target}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: serve
          image: $IMAGE
          command: ["gcannon", "serve", "--listen", "0.0.0.0:8080"]
          ports: [{containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Service
metadata:
  name: target
spec:
  selector: {app: target}
  ports: [{port: 8080, targetPort: 8080}]
YAML
kubectl rollout status -n "$NAMESPACE" deployment/target --timeout=3m

echo "==> LoadTest $LT"
kubectl delete loadtest -n "$NAMESPACE" "$LT" --ignore-not-found --wait=true
kubectl apply -n "$NAMESPACE" -f - <<YAML
apiVersion: glasscannon.dev/v1alpha1
kind: LoadTest
metadata:
  name: $LT
spec:
  target: http://target.$NAMESPACE.svc:8080/
  runners: 2
  threads: 1
  connections: 16
  duration: 10s
  warmup: 1s
  seccomp: $SECCOMP
  thresholds:
    - "errors < 1%"
    - "status_5xx == 0"
YAML

if ! kubectl wait -n "$NAMESPACE" --for=condition=Complete "loadtest/$LT" --timeout="$TIMEOUT"; then
  echo "cluster.sh: LoadTest did not complete; status and events:" >&2
  kubectl get loadtest -n "$NAMESPACE" "$LT" -o yaml >&2 || true
  kubectl get events -n "$NAMESPACE" --sort-by=.lastTimestamp >&2 || true
  kubectl logs -n "$NAMESPACE" -l glasscannon.dev/loadtest="$LT" --tail=50 >&2 || true
  exit 1
fi

echo "==> result"
kubectl get loadtest -n "$NAMESPACE" "$LT"
kubectl get loadtest -n "$NAMESPACE" "$LT" -o jsonpath='{.status.summary}{"\n"}{.status.thresholdResults}{"\n"}'
verdict="$(kubectl get loadtest -n "$NAMESPACE" "$LT" -o jsonpath='{.status.verdict}')"
responses="$(kubectl get loadtest -n "$NAMESPACE" "$LT" -o jsonpath='{.status.summary.responses}')"
[ "${responses:-0}" -gt 0 ] || die "the test completed but recorded no responses"
[ "$verdict" = Passed ] || die "verdict is '$verdict', expected Passed"
echo "cluster.sh: PASS ($responses responses, verdict $verdict)"
