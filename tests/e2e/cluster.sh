#!/usr/bin/env bash
# End-to-end on a real cluster (kind, k3d, or any reachable one), the README's
# quick start as a script: build the image and load it into the cluster, install
# the chart, apply examples/quickstart/ in two namespaces other than the
# operator's (the operator creates each LoadTest's runner RBAC), wait for
# Complete and check the verdicts.
#
# Usage: tests/e2e/cluster.sh   (exit 0 pass, 1 fail, 2 no cluster/tools: not run)
# Env:   IMAGE      image to test (default: the chart's, ghcr.io/glass-cannon/glass-cannon:<appVersion>)
#        BUILD      1 (default): docker build IMAGE from this checkout and load it into
#                   kind (kind load docker-image) or k3d (k3d image import);
#                   0: use IMAGE as it is (a published tag, or one you pushed)
#        NAMESPACE  the operator's namespace (default glass-cannon-e2e); the LoadTests
#                   run in $NAMESPACE-a and $NAMESPACE-b
#        SECCOMP    Localhost | RuntimeDefault | Unconfined (default Localhost)
#        TIMEOUT    wait for Complete (default 5m)
#        KEEP=1     leave the namespaces behind for inspection
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
APP_VERSION="$(sed -n 's/^appVersion: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$ROOT/charts/glass-cannon/Chart.yaml")"
CHART_IMAGE="ghcr.io/glass-cannon/glass-cannon:$APP_VERSION"
IMAGE="${IMAGE:-$CHART_IMAGE}"
BUILD="${BUILD:-1}"
NAMESPACE="${NAMESPACE:-glass-cannon-e2e}"
SECCOMP="${SECCOMP:-Localhost}"
TIMEOUT="${TIMEOUT:-5m}"
RELEASE=glass-cannon
LT=quickstart
TEAMS=("$NAMESPACE-a" "$NAMESPACE-b")

die() { echo "cluster.sh: $*" >&2; exit 1; }
skip() { echo "cluster.sh: $* (not run)"; exit 2; }

for tool in kubectl helm; do
  command -v "$tool" >/dev/null || skip "$tool is not installed; this script needs kubectl, helm and a reachable cluster"
done
if ! kubectl version --request-timeout=5s >/dev/null 2>&1; then
  echo "cluster.sh: no Kubernetes cluster is reachable (kubectl context: $(kubectl config current-context 2>/dev/null || echo none))."
  skip "start one, e.g. 'kind create cluster' or 'k3d cluster create', then run this script again"
fi

context="$(kubectl config current-context)"
if [ "$BUILD" = 1 ]; then
  command -v docker >/dev/null || skip "docker is needed to build $IMAGE (or set BUILD=0 and IMAGE to a published image)"
  echo "==> docker build $IMAGE"
  docker build -t "$IMAGE" --build-arg VERSION="$APP_VERSION" \
    --build-arg REVISION="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" "$ROOT"
  case "$context" in
    kind-*)
      echo "==> kind load docker-image $IMAGE"
      kind load docker-image "$IMAGE" --name "${context#kind-}" ;;
    k3d-*)
      echo "==> k3d image import $IMAGE"
      k3d image import "$IMAGE" --cluster "${context#k3d-}" ;;
    *)
      echo "==> docker push $IMAGE (context $context is neither kind nor k3d)"
      docker push "$IMAGE" ;;
  esac
fi

repo="${IMAGE%:*}"; tag="${IMAGE##*:}"
[ "$repo" = "$IMAGE" ] && tag=latest

cleanup() {
  if [ "${KEEP:-0}" != 1 ]; then
    kubectl delete namespace "$NAMESPACE" "${TEAMS[@]}" --ignore-not-found --wait=false >/dev/null || true
  fi
}
trap cleanup EXIT

echo "==> CRD and chart (image $IMAGE, seccomp $SECCOMP) into namespace $NAMESPACE"
kubectl apply -f "$ROOT/crds/loadtest.yaml"
helm upgrade --install "$RELEASE" "$ROOT/charts/glass-cannon" \
  --namespace "$NAMESPACE" --create-namespace \
  --set image.repository="$repo" --set image.tag="$tag" \
  --set seccomp.mode="$SECCOMP" \
  --wait --timeout 5m

# The quick start's manifests, with the image under test in place of the chart default.
quickstart() {
  sed "s#image: $CHART_IMAGE#image: $IMAGE#" "$ROOT/examples/quickstart/$1"
}

for ns in "${TEAMS[@]}"; do
  echo "==> $ns: target (gcannon serve), then the quick start LoadTest"
  kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
  quickstart target.yaml | kubectl apply -n "$ns" -f -
  kubectl rollout status -n "$ns" deployment/target --timeout=3m
  kubectl delete loadtest -n "$ns" "$LT" --ignore-not-found --wait=true
  quickstart loadtest.yaml | kubectl apply -n "$ns" -f -
done

for ns in "${TEAMS[@]}"; do
  if ! kubectl wait -n "$ns" --for=condition=Complete "loadtest/$LT" --timeout="$TIMEOUT"; then
    echo "cluster.sh: LoadTest $ns/$LT did not complete; status and events:" >&2
    kubectl get loadtest -n "$ns" "$LT" -o wide >&2 || true
    kubectl describe loadtest -n "$ns" "$LT" >&2 || true
    kubectl get events -n "$ns" --sort-by=.lastTimestamp >&2 || true
    kubectl logs -n "$ns" -l glasscannon.dev/loadtest="$LT" --tail=50 >&2 || true
    exit 1
  fi
  echo "==> $ns: result"
  kubectl get loadtest -n "$ns" "$LT"
  kubectl get loadtest -n "$ns" "$LT" -o jsonpath='{.status.summary}{"\n"}{.status.thresholdResults}{"\n"}'
  verdict="$(kubectl get loadtest -n "$ns" "$LT" -o jsonpath='{.status.verdict}')"
  responses="$(kubectl get loadtest -n "$ns" "$LT" -o jsonpath='{.status.summary.responses}')"
  [ "${responses:-0}" -gt 0 ] || die "$ns/$LT completed but recorded no responses"
  [ "$verdict" = Passed ] || die "$ns/$LT: verdict is '$verdict', expected Passed"
  # The runner RBAC the operator made for this LoadTest, owned by it.
  owner="$(kubectl get role -n "$ns" "$LT-runner" -o jsonpath='{.metadata.ownerReferences[0].name}')"
  [ "$owner" = "$LT" ] || die "$ns: Role $LT-runner is not owned by LoadTest $LT"
  echo "cluster.sh: $ns PASS ($responses responses, verdict $verdict)"
done
echo "cluster.sh: PASS"
