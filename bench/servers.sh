# Set-up and targets shared by bench/compare.sh, bench/handshakes.sh and
# bench/original.sh (sourced, not run).
#
# bench_start FILE HEADER: $RAW is $OUT/FILE with HEADER as its first row;
# $work is a scratch directory removed at exit, when every server and client
# still running is killed; descriptors raised for many connections; a release
# gcannon built if $GCANNON is missing.
bench_start() {
  mkdir -p "$OUT"
  RAW="$OUT/$1"
  echo "$2" > "$RAW"
  work=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
  ulimit -n 65536 2>/dev/null || true
  [ -x "$GCANNON" ] || cargo build --release -p runner
}

# Targets:
# nginx with one worker on 18080 (TLS: 18443), `gcannon serve` with one thread
# on 18081 (TLS: 18444), each pinned to $SERVER_CPU. Expects $work (a scratch
# directory) and $GCANNON.

# start_nginx [tls|tls-full]: plaintext, or TLS 1.3 with a self-signed P-256
# certificate; tls-full turns session resumption off (no tickets, no cache), so
# every connection is a full handshake whatever the client does. With
# NGINX_LOG=FILE each request logs `$ssl_session_reused $connection_requests`
# (r: resumed, .: full; 1 on a connection's first request, its handshake).
start_nginx() {
  local listen="listen 127.0.0.1:18080 backlog=65535;" port=18080 log="access_log off;"
  mkdir -p "$work/nginx"
  if [[ ${1:-} == tls* ]]; then
    [ -s "$work/nginx/cert.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -nodes -days 2 -subj /CN=127.0.0.1 -keyout "$work/nginx/key.pem" -out "$work/nginx/cert.pem" 2>/dev/null
    local resume="ssl_session_tickets on;"
    [ "$1" = tls-full ] && resume="ssl_session_tickets off; ssl_session_cache off;"
    listen="listen 127.0.0.1:18443 ssl backlog=65535; ssl_certificate $work/nginx/cert.pem;
    ssl_certificate_key $work/nginx/key.pem; ssl_protocols TLSv1.3; $resume"
    port=18443
  fi
  [ -n "${NGINX_LOG:-}" ] && log="log_format reuse '\$ssl_session_reused \$connection_requests'; access_log $NGINX_LOG reuse;"
  cat > "$work/nginx/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $work/nginx/pid; error_log $work/nginx/error.log crit;
worker_rlimit_nofile 65536;
events { worker_connections 20000; }
http {
  $log keepalive_requests 1000000; keepalive_timeout 300s;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server { $listen location / { return 200 "hello\n"; } }
}
EOF
  taskset -c "$SERVER_CPU" nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
  SERVER_PID=$!
  wait_port "$port"
}

start_serve() {
  taskset -c "$SERVER_CPU" "$GCANNON" serve --listen 127.0.0.1:18081 --threads 1 2>/dev/null &
  SERVER_PID=$!
  wait_port 18081
}

start_serve_tls() { # self-signed certificate made at start
  taskset -c "$SERVER_CPU" "$GCANNON" serve --tls --listen 127.0.0.1:18444 --threads 1 2>/dev/null &
  SERVER_PID=$!
  wait_port 18444
}

stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }

wait_port() {
  for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "bench: nothing listening on $1"; exit 1
}
