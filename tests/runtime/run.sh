#!/usr/bin/env bash
# The runner under a real container runtime: runc runs OCI bundles shaped like a
# runner pod (the image's layout on a base made from Debian's packages, uid/gid
# 65532, read-only root, no capabilities, no_new_privs, tmpfs /tmp) with the
# chart's seccomp profile, and buildah builds the Dockerfile's runtime stage from
# local images only. Prints one line per case and "N passed, N failed".
#
# Needs root (runc, network namespaces) and installs runc and buildah from
# Debian's packages when missing; a missing tool is a failure, never a skip.
# Release binaries: cargo build --release -p runner -p operator (done here).
# Steps chain as `a && b || { why=...; return 1; }` on purpose: any failing step
# gives the reason.
# shellcheck disable=SC2015
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 1
profile="$root/charts/glass-cannon/files/io-uring.json"
bin="$root/target/release"
cache="$root/target/runtime"
work="$(mktemp -d /tmp/gc-runtime.XXXXXX)"
tag="gcrt$$"                       # names runc ids, netns and veths (<= 15 chars)
runc=(runc --root "$work/runc")    # private state: never sees anyone else's containers
buildah=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
oci() { python3 "$root/tests/runtime/oci.py" "$@"; }
passed=0 failed=0 why="" detail=""
serve_pid="" image_ctr=""

cleanup() {
  local id
  for id in $("${runc[@]}" list -q 2>/dev/null); do "${runc[@]}" delete -f "$id" >/dev/null 2>&1; done
  [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null
  ip netns del "$tag-srv" 2>/dev/null
  ip netns del "$tag-cli" 2>/dev/null
  if [[ -n "$image_ctr" ]]; then
    "${buildah[@]}" umount "$image_ctr" >/dev/null 2>&1
    "${buildah[@]}" rm "$image_ctr" >/dev/null 2>&1
  fi
  [[ -d "$work/storage" ]] && "${buildah[@]}" rm --all >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

die() { echo "runtime: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (runc and network namespaces); run it as root"

# Install what is missing from Debian's packages. CI must have every tool.
need=()
command -v runc >/dev/null || need+=(runc)
command -v buildah >/dev/null || need+=(buildah)
command -v ip >/dev/null || need+=(iproute2)
if ((${#need[@]})); then
  echo "runtime: installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; } \
    || die "cannot install ${need[*]} (CI=${CI:-false}): the runtime cases cannot run"
fi

echo "==> release binaries"
cargo build --release --locked -q -p runner -p operator || die "cargo build --release failed"

# A base like distroless cc-debian12:nonroot, from Debian's own packages: glibc
# and libgcc (all the binaries link), the CA bundle (distroless has it; kube's
# rustls client loads the system roots when a kubeconfig names no CA), the
# nonroot user 65532, and nothing else (no shell, no package manager).
echo "==> base root filesystem from Debian's packages"
mkdir -p "$cache/debs"
debs=(libc6 libgcc-s1 ca-certificates)
have_debs=1
for d in "${debs[@]}"; do compgen -G "$cache/debs/${d}_*.deb" >/dev/null || have_debs=0; done
if ((!have_debs)); then
  (cd "$cache/debs" && apt-get download "${debs[@]}" >/dev/null 2>&1) \
    || (apt-get update -qq && cd "$cache/debs" && apt-get download "${debs[@]}" >/dev/null) \
    || die "cannot download ${debs[*]} from Debian's packages"
fi
base="$work/base"
mkdir -p "$base/etc" "$base/tmp" "$base/home/nonroot"
for deb in "$cache"/debs/*.deb; do dpkg-deb -x "$deb" "$base"; done
rm -rf "$base/usr/share/doc" "$base/usr/share/lintian" "$base/usr/share/man"
# The bundle update-ca-certificates would write (the package's postinst).
mkdir -p "$base/etc/ssl/certs" && cat "$base"/usr/share/ca-certificates/mozilla/*.crt >"$base/etc/ssl/certs/ca-certificates.crt" \
  || die "cannot assemble the CA bundle from the ca-certificates package"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
  'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
  'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$base/etc/passwd"
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$base/etc/group"
chmod 1777 "$base/tmp"
chown 65532:65532 "$base/home/nonroot"

# The bundles' root: the image's layout, the binaries in /usr/local/bin.
rootfs="$work/rootfs"
cp -a "$base" "$rootfs" && mkdir -p "$rootfs/usr/local/bin" \
  && install -m 0755 "$bin/gcannon" "$bin/glass-cannon-operator" "$bin/crdgen" "$rootfs/usr/local/bin/" \
  || die "cannot lay out the bundles' root filesystem"

# run_ctr NAME BUNDLE: run a container in the foreground, bounded in time;
# its stdout and stderr land in $work/NAME.out and .err, its exit code in $rc.
run_ctr() {
  timeout -k 5 60 "${runc[@]}" run --bundle "$2" "$tag-$1" \
    >"$work/$1.out" 2>"$work/$1.err" </dev/null
  rc=$?
  "${runc[@]}" delete -f "$tag-$1" >/dev/null 2>&1
}

# count_responses REPORT: the response count of a --json report into $n, or why not into $why.
count_responses() {
  n="$(oci report "$1" 2>"$work/report.err")" || { why="$(cat "$work/report.err")"; return 1; }
}

# case NAME FUNCTION: one line per case, PASS or FAIL with the reason.
case_() {
  why="" detail=""
  if "$2"; then
    echo "PASS  $1${detail:+ ($detail)}"
    passed=$((passed + 1))
  else
    echo "FAIL  $1: $why"
    failed=$((failed + 1))
  fi
}

# 1. The chart's profile as shipped (read from the chart, not copied): io_uring works.
demo_with_chart_profile() {
  oci config "$work/demo" "$rootfs" "$profile" -- gcannon demo --json -d 1s -c 8
  run_ctr demo "$work/demo"
  ((rc == 0)) || { why="exit $rc: $(tail -n1 "$work/demo.err")"; return 1; }
  count_responses "$work/demo.out" || return 1
  detail="$n responses"
}

# 2. The same profile without the io_uring syscalls (RuntimeDefault on containerd
# 2 and Docker 25+): exit 2, one line naming io_uring, and no request reaches the
# target. The container shares the host's network namespace so that a server
# on loopback outside it can count what arrives.
refused_without_io_uring() {
  "$bin/gcannon" serve --listen 127.0.0.1:0 --threads 1 2>"$work/serve2.err" &
  serve_pid=$!
  local url=""
  for _ in $(seq 50); do
    url="$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve2.err")" && break
    sleep 0.1
  done
  [[ -n "$url" ]] || { why="the host server did not start: $(cat "$work/serve2.err")"; return 1; }
  oci config "$work/refused" "$rootfs" "$profile" --no-io-uring --netns host -- \
    gcannon --json -d 1s -c 4 "$url/"
  run_ctr refused "$work/refused"
  kill -INT "$serve_pid"
  wait "$serve_pid"
  serve_pid=""
  local served lines
  served="$(grep -o '[0-9]* requests served' "$work/serve2.err")"
  lines="$(wc -l <"$work/refused.err")"
  ((rc == 2)) || { why="exit $rc, expected 2: $(cat "$work/refused.err")"; return 1; }
  ((lines == 1)) || { why="expected one line on stderr, got $lines: $(cat "$work/refused.err")"; return 1; }
  grep -q '^gcannon: io_uring was refused (io_uring_setup: .*seccomp' "$work/refused.err" \
    || { why="not the io_uring message: $(cat "$work/refused.err")"; return 1; }
  [[ ! -s "$work/refused.out" ]] || { why="printed a result: $(head -c 200 "$work/refused.out")"; return 1; }
  [[ "$served" == "0 requests served" ]] || { why="the target saw load: $served"; return 1; }
  detail="$(cut -c1-60 "$work/refused.err")..., target served 0 requests"
}

# 3. The agent in the bundle, driven by the real operator through the API server
# stand-in (tests/e2e/emulated): the stand-in's kubelet launches each runner
# pod's command through `oci.py pod`, i.e. under runc in the bundle's root.
agent_in_bundle() {
  local launcher="$work/gcannon-in-runc"
  # venv.sh defines venv_install and standin_packages.
  # shellcheck disable=SC1091,SC2154
  source "$root/tests/venv.sh" && venv_install "${standin_packages[@]}" \
    || { why="cannot prepare the stand-in's Python environment"; return 1; }
  printf '#!/bin/sh\nexec python3 %q pod %q %q %q -- "$@"\n' \
    "$root/tests/runtime/oci.py" "$rootfs" "$profile" "$work/runc" >"$launcher" && chmod +x "$launcher"
  detail="$(timeout -k 5 150 "$root/.venv/bin/python" "$root/tests/runtime/agent_case.py" "$root" "$launcher" 2>"$work/agent.err")" \
    || { why="$(tail -n 5 "$work/agent.err")"; return 1; }
}

# 4. Two pods on two hosts: `gcannon serve` and `gcannon` in separate network
# namespaces created here, joined by a veth pair. Addresses in 127.0.0.0/8 are
# not routable across a veth, so the pair gets a private /30 that exists only
# inside these two namespaces: the traffic never leaves this machine.
srv_ip=10.111.0.1 cli_ip=10.111.0.2
two_hosts() {
  ip netns add "$tag-srv" && ip netns add "$tag-cli" \
    && ip link add "$tag-s" type veth peer name "$tag-c" \
    && ip link set "$tag-s" netns "$tag-srv" && ip link set "$tag-c" netns "$tag-cli" \
    && ip -n "$tag-srv" addr add "$srv_ip/30" dev "$tag-s" \
    && ip -n "$tag-cli" addr add "$cli_ip/30" dev "$tag-c" \
    && ip -n "$tag-srv" link set "$tag-s" up && ip -n "$tag-cli" link set "$tag-c" up \
    && ip -n "$tag-srv" link set lo up && ip -n "$tag-cli" link set lo up \
    || { why="cannot create the network namespaces and veth pair"; return 1; }
  oci config "$work/srv" "$rootfs" "$profile" --netns "/run/netns/$tag-srv" -- \
    gcannon serve --listen "$srv_ip:8080" --threads 1
  oci config "$work/cli" "$rootfs" "$profile" --netns "/run/netns/$tag-cli" -- \
    gcannon --json -d 1s -c 8 -t 1 "http://$srv_ip:8080/"
  "${runc[@]}" run -d --bundle "$work/srv" "$tag-srv" >"$work/srv.log" 2>&1 </dev/null \
    || { why="runc could not start the server: $(cat "$work/srv.log")"; return 1; }
  for _ in $(seq 50); do grep -q listening "$work/srv.log" && break; sleep 0.1; done
  grep -q "listening on http://$srv_ip:8080" "$work/srv.log" \
    || { why="the server did not listen: $(cat "$work/srv.log")"; return 1; }
  check_posture "$("${runc[@]}" state "$tag-srv" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
  run_ctr cli "$work/cli"
  "${runc[@]}" kill "$tag-srv" INT
  for _ in $(seq 50); do
    "${runc[@]}" state "$tag-srv" 2>/dev/null | grep -q '"status": "stopped"' && break
    sleep 0.1
  done
  local served rx
  served="$(grep -o '[0-9]* requests served' "$work/srv.log" | cut -d' ' -f1)"
  rx="$(ip netns exec "$tag-srv" cat "/sys/class/net/$tag-s/statistics/rx_bytes")"
  ((rc == 0)) || { why="client exit $rc: $(tail -n1 "$work/cli.err")"; return 1; }
  count_responses "$work/cli.out" || return 1
  [[ -n "$served" ]] && ((served >= n)) \
    || { why="server served '${served}' requests, client saw $n responses"; return 1; }
  ((rx > n * 16)) || { why="only $rx bytes crossed the veth for $n responses"; return 1; }
  detail="$n responses over the veth pair, server counted $served, $rx bytes received"
}

# 5. What the pod's securityContext promises, read from the kernel for the
# server container of case 4: the ids, no capabilities, no_new_privs, a seccomp
# filter, a read-only root and a writable tmpfs /tmp.
posture=""
check_posture() {
  local pid="$1" status mounts
  status="$(cat "/proc/$pid/status")" && mounts="$(cat "/proc/$pid/mountinfo")" \
    || { posture="cannot read /proc/$pid"; return; }
  local want
  for want in $'Uid:\t65532\t65532\t65532\t65532' $'Gid:\t65532\t65532\t65532\t65532' \
    $'CapInh:\t0000000000000000' $'CapPrm:\t0000000000000000' $'CapEff:\t0000000000000000' \
    $'CapBnd:\t0000000000000000' $'CapAmb:\t0000000000000000' $'NoNewPrivs:\t1' $'Seccomp:\t2'; do
    grep -qxF "$want" <<<"$status" || { posture="/proc/$pid/status lacks '$want'"; return; }
  done
  # mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPEROPTS
  awk '$5 == "/" { split($6, o, ","); if (o[1] != "ro") exit 1; found = 1 } END { exit !found }' <<<"$mounts" \
    || { posture="the root filesystem is not read-only"; return; }
  awk '$5 == "/tmp" { split($6, o, ","); for (i = 1; i <= NF; i++) if ($i == "-") t = $(i + 1);
       if (o[1] == "rw" && t == "tmpfs") found = 1 } END { exit !found }' <<<"$mounts" \
    || { posture="/tmp is not a writable tmpfs"; return; }
  posture=ok
}
pod_posture() {
  [[ "$posture" == ok ]] || { why="${posture:-not checked: case 4 did not start its server}"; return 1; }
  detail="uid/gid 65532, no capabilities, no_new_privs, seccomp filter, ro root, tmpfs /tmp"
}

# 6. The Dockerfile's runtime stage, built by buildah from local images only:
# RUNTIME_IMAGE is the Debian base above, BINARIES an image holding the release
# binaries in /out (in place of the Rust build stage). Then the built image's own
# entrypoint and user run `demo` under runc with the chart's profile.
image_demo() {
  local ctr
  ctr="$("${buildah[@]}" from scratch)" && "${buildah[@]}" copy "$ctr" "$base/" / >/dev/null \
    && "${buildah[@]}" commit -q "$ctr" localhost/gc-base:debian12 >/dev/null \
    || { why="cannot make the base image"; return 1; }
  ctr="$("${buildah[@]}" from scratch)" \
    && "${buildah[@]}" copy "$ctr" "$bin/gcannon" "$bin/glass-cannon-operator" "$bin/crdgen" /out/ >/dev/null \
    && "${buildah[@]}" commit -q "$ctr" localhost/gc-binaries:local >/dev/null \
    || { why="cannot make the binaries image"; return 1; }
  "${buildah[@]}" build --pull-never -q -f Dockerfile -t localhost/glass-cannon:runtime-test \
    --build-arg RUNTIME_IMAGE=localhost/gc-base:debian12 --build-arg BINARIES=localhost/gc-binaries:local \
    "$root" >"$work/build.log" 2>&1 \
    || { why="buildah build failed: $(tail -n3 "$work/build.log")"; return 1; }
  "${buildah[@]}" inspect --type image localhost/glass-cannon:runtime-test >"$work/image.json"
  eval "$(oci image "$work/image.json")"
  [[ "$IMAGE_USER" == 65532:65532 ]] || { why="image user is '$IMAGE_USER'"; return 1; }
  image_ctr="$("${buildah[@]}" from localhost/glass-cannon:runtime-test)" \
    && mnt="$("${buildah[@]}" mount "$image_ctr")" || { why="cannot mount the built image"; return 1; }
  oci config "$work/image" "$mnt" "$profile" --user "$IMAGE_USER" -- \
    "${IMAGE_ENTRYPOINT[@]}" demo --json -d 1s -c 8
  run_ctr image "$work/image"
  ((rc == 0)) || { why="exit $rc: $(tail -n1 "$work/image.err")"; return 1; }
  count_responses "$work/image.out" || return 1
  detail="localhost/glass-cannon:runtime-test, entrypoint ${IMAGE_ENTRYPOINT[*]}, $n responses"
}

echo "==> cases (runc $(runc --version | head -n1 | cut -d' ' -f3), buildah $(buildah --version | cut -d' ' -f3))"
case_ "1 chart profile as shipped: gcannon demo as 65532 on a read-only root" demo_with_chart_profile
case_ "2 profile without io_uring: exit 2, one-line io_uring message, no load sent" refused_without_io_uring
case_ "3 gcannon agent in bundles against the API server stand-in: plan resolved, shards reported" agent_in_bundle
case_ "4 serve and gcannon in two network namespaces over a veth pair" two_hosts
case_ "5 pod posture read from /proc: ids, capabilities, no_new_privs, seccomp, mounts" pod_posture
case_ "6 Dockerfile runtime stage built by buildah without pulls, its demo under runc" image_demo
echo "runtime: $passed passed, $failed failed"
((failed == 0))
