# Shared helpers of the benchmark scripts (sourced, not run).
# Every benchmark runs inside a loopback-only network namespace.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
clk_tck=$(getconf CLK_TCK)

# Starts a release switch with a generated config in $1 (a fresh folder);
# prints its PID. Extension 1000 (password secret-1000) may call out; the
# trunk "carrier" is at 127.0.0.1:$3; SIP on $2, HTTP on $4.
start_switch() {
  local dir=$1 sip=$2 carrier=$3 http=$4
  cat > "$dir/bench.toml" <<TOML
[sip]
listen = ["udp:127.0.0.1:$sip"]
default_tenant = "bench"
max_auth_failures_per_minute = 1000000
max_transactions = 200000
[media]
rtp_ports = "10000-31999"
[http]
listen = "127.0.0.1:$http"
[store]
path = "$dir/bench.db"
[log]
level = "warn"
[[tenants]]
name = "bench"
domain = "bench.parkline.test"
[[tenants.extensions]]
number = "1000"
password = "secret-1000"
[[trunks]]
name = "carrier"
address = "127.0.0.1:$carrier"
tenant = "bench"
TOML
  "$bench_root/target/release/parkline" serve --config "$dir/bench.toml" > "$dir/switch.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$http/health" > /dev/null 2>&1 && break
    sleep 0.1
  done
  echo "$pid"
}

# CPU seconds (user+system) a process has used.
cpu_seconds() {
  awk -v t="$clk_tck" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"
}

# Peak resident set of a process, KiB.
peak_rss_kib() {
  awk '/VmHWM/ { print $2 }' "/proc/$1/status"
}

# Current resident set of a process, KiB.
rss_kib() {
  awk '/VmRSS/ { print $2 }' "/proc/$1/status"
}

# Appends one dated row per figure to bench/RESULTS.md.
record() { # scenario figure value unit note
  local commit
  commit=$(git -C "$bench_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  printf '| %s | %s | %s | %s | %s %s | %s |\n' "$(date -u +%F)" "$commit" "$1" "$2" "$3" "$4" "$5" >> "$bench_root/bench/RESULTS.md"
  printf '%-14s %-34s %10s %-8s %s\n' "$1" "$2" "$3" "$4" "$5"
}
