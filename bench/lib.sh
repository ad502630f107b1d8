# Shared helpers of the benchmark scripts (sourced, not run).
# Every benchmark runs inside a loopback-only network namespace.

# The admin API token of the bench configuration (its hash is in the TOML).
bench_token=bench-token
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The switch and load tools: release builds (BENCH_PROFILE=debug: the test
# suite's smoke run, bench/smoke). BENCH_BIN=DIR takes them from DIR (an
# A/B run: another commit's parkline beside these load tools).
bin_dir=${BENCH_BIN:-"$bench_root/target/${BENCH_PROFILE:-release}"}
clk_tck=$(getconf CLK_TCK)

# Starts the switch with a generated config in $1 (a fresh folder);
# prints its PID. RTP ports: $SWITCH_RTP_PORTS (default 10000-31999); the
# scripts keep SIP, HTTP and SIPp media ports below 10000, out of that range.
# Extension 1000 (password secret-1000) may call out without the toll-fraud
# guard's limits (the load is the point), more extensions come
# from $SWITCH_EXTENSIONS (TOML); the trunk "carrier" is
# at 127.0.0.1:$3; SIP on $2, HTTP on $4. $SWITCH_LIMITS replaces the
# raised limits the load scenarios need (empty: the defaults).
# $SWITCH_EXTRA_TOML is appended at the end (e.g. a [[webhooks]] table).
# $SWITCH_MEDIA_THREADS sets media.threads; $SWITCH_CPUS pins the switch
# to those CPUs (taskset -c LIST), for the scaling runs.
start_switch() {
  local dir=$1 http=$4 pin=()
  bench_config "$@"
  [ -z "${SWITCH_CPUS:-}" ] || pin=(taskset -c "$SWITCH_CPUS")
  "${pin[@]}" "$bin_dir/parkline" serve --config "$dir/bench.toml" > "$dir/switch.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$dir/switch.pid"
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$http/health" > /dev/null 2>&1 && break
    sleep 0.1
  done
  echo "$pid"
}

# Writes the bench configuration start_switch describes to $1/bench.toml
# (the cluster bench starts its nodes from it).
bench_config() {
  local dir=$1 sip=$2 carrier=$3 http=$4
  cat > "$dir/bench.toml" <<TOML
[sip]
listen = ["udp:127.0.0.1:$sip"]
default_tenant = "bench"
${SWITCH_LIMITS-max_auth_failures_per_minute = 1000000}
[media]
rtp_ports = "${SWITCH_RTP_PORTS:-10000-31999}"
${SWITCH_MEDIA_THREADS:+threads = $SWITCH_MEDIA_THREADS}
[http]
listen = "127.0.0.1:$http"
[[http.tokens]]
name = "bench"
hash = "sha256:7137e16f75a1d75b6fd65930672814806cdc1a0d6e0aa38611afc996a402258b"
[store]
path = "$dir/bench.db"
[log]
level = "warn,parkline::serve=info"
[[tenants]]
name = "bench"
domain = "bench.parkline.test"
park_timeout_s = ${SWITCH_PARK_TIMEOUT:-3600}
park_code_length = 6
max_outbound_calls = 0
max_outbound_calls_per_minute = 0
[[tenants.extensions]]
number = "1000"
password = "secret-1000"
max_outbound_calls = 0
max_outbound_calls_per_minute = 0
${SWITCH_EXTENSIONS:-}
[[trunks]]
name = "carrier"
address = "127.0.0.1:$carrier"
tenant = "bench"
${SWITCH_EXTRA_TOML:-}
TOML
}

# CPU seconds (user+system) a process has used (0 if it is gone).
cpu_seconds() {
  [ -r "/proc/$1/stat" ] || { echo 0; return; }
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

# Adds one dated row per figure to the table of bench/RESULTS.md.
record() { # scenario figure value unit note
  local commit
  commit=$(git -C "$bench_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  local row file="$bench_root/bench/RESULTS.md"
  row=$(printf '| %s | %s | %s | %s | %s %s | %s |' "$(date -u +%F)" "$commit" "$1" "$2" "$3" "$4" "$5")
  # Rows go at the end of the table, before the first written reading.
  # RECORD=0 prints the figures without writing them (trials).
  [ "${RECORD:-1}" = 0 ] || { awk -v row="$row" '
    { line[NR] = $0 }
    /^## Reading/ && !at { at = NR }
    END {
      if (!at) { for (i = 1; i <= NR; i++) print line[i]; print row; exit }
      end = at - 1
      while (end > 0 && line[end] == "") end--
      for (i = 1; i <= NR; i++) { print line[i]; if (i == end) print row }
    }' "$file" > "$file.new" && mv "$file.new" "$file"; }
  printf '%-14s %-34s %10s %-8s %s\n' "$1" "$2" "$3" "$4" "$5"
}

# Waits up to $3 seconds until the switch's /api/status field $2 (on HTTP
# port $1) reaches $4, or has not changed for 5 s; prints the last value.
wait_status() {
  local http=$1 field=$2 secs=$3 want=$4 v=0 last=-1 same=0
  for _ in $(seq 1 $((secs * 10))); do
    v=$(status_field "$http" "$field")
    [ "${v:-0}" -ge "$want" ] && break
    if [ "${v:-0}" = "$last" ]; then same=$((same + 1)); else same=0; last=${v:-0}; fi
    [ "$same" -ge 50 ] && [ "${v:-0}" -gt 0 ] && break
    sleep 0.1
  done
  echo "${v:-0}"
}

# One numeric field of the switch's /api/status.
status_field() {
  curl -s -H "Authorization: Bearer $bench_token" "http://127.0.0.1:$1/api/status" | grep -o "\"$2\":[0-9]*" | cut -d: -f2
}

# Field NAME=value of a key=value summary line.
kv() { # line name
  tr ' ' '\n' <<< "$1" | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# Stops what a benchmark started in $work (its jobs, the switch, every SIPp
# running there) and removes $work unless KEEP is set. Use as the EXIT trap.
cleanup() {
  kill $(jobs -p) 2> /dev/null || true
  [ -f "$work/switch.pid" ] && kill "$(cat "$work/switch.pid")" 2> /dev/null || true
  for p in $(pgrep -x sipp); do
    [ "$(readlink "/proc/$p/cwd")" = "$work" ] && kill "$p" 2> /dev/null || true
  done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}

# TOML for extensions $1..$2, each with password secret-NUMBER.
extensions_toml() {
  local n
  for n in $(seq "$1" "$2"); do
    printf '[[tenants.extensions]]\nnumber = "%s"\npassword = "secret-%s"\n' "$n" "$n"
  done
}

# Datagrams the kernel dropped in this namespace because a socket's receive
# buffer was full (UDP RcvbufErrors), so far: take differences.
udp_receive_drops() {
  awk '/^Udp:/ { n++; if (n == 1) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") col = i } else { print $col; exit } }' /proc/net/snmp
}

# PID of the SIPp running in folder $1 (started there with -bg).
sipp_in() {
  local p
  for p in $(pgrep -x sipp); do
    [ "$(readlink "/proc/$p/cwd")" = "$1" ] && { echo "$p"; return; }
  done
  echo 0
}
