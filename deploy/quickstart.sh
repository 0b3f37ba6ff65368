#!/usr/bin/env bash
# A local province on this machine: a registry and three county nodes, each on embedded SQLite,
# talking over real mutual TLS on loopback with certificates from a CA made here. Seeds a few
# generated people and cases, writes DIR/province.json, and runs until Ctrl-C.
#
#   deploy/quickstart.sh [--dir DIR] [--fresh]
#
# DIR defaults to .mpx-quickstart/. Run again to restart the same province; --fresh starts over.
set -euo pipefail
# Everything the province writes (databases, keys, logs, tokens) is private to this user.
umask 077

dir=.mpx-quickstart
fresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
    --dir=*) dir="${1#--dir=}"; shift ;;
    --fresh) fresh=1; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (use --dir DIR or --fresh)" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
command -v cargo >/dev/null || { echo "cargo is needed: install the Rust toolchain (rustup)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed to write province.json" >&2; exit 1; }

echo "==> building (cargo build --bins; the first build takes a few minutes)"
(cd "$root" && cargo build --quiet --bins)
# Where cargo put them: CARGO_TARGET_DIR when set (relative to the workspace, as cargo reads it).
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
bin="$target/debug"

[ "$fresh" = 1 ] && rm -rf "$dir"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
export RUST_LOG="${RUST_LOG:-info,h2=warn,tower=warn,hyper=warn}"
unset MPX_CONFIG MPX_DATA_DIR MPX_DATABASE_URL MPX_SERVER MPX_TOKEN

counties=(621202 621221 620102)
declare -A names=([621202]="武都区" [621221]="成县" [620102]="城关区")
# One console clerk per county (a generated password, printed below and kept in province.json).
declare -A clerks=([621202]="王芳" [621221]="李娜" [620102]="张伟")
pids=()

stop_all() {
  trap - INT TERM EXIT
  if [ "${#pids[@]}" -gt 0 ]; then
    echo
    echo "==> stopping (SIGTERM, then waiting for each process to drain)"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  echo "stopped; files are in $dir (run again to restart, --fresh to start over)"
}
trap stop_all INT TERM EXIT

wait_ready() { # FILE PID NAME
  for _ in $(seq 1 600); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || { echo "$3 failed to start; see its log:" >&2; tail -20 "$dir/$3.log" >&2; exit 1; }
    sleep 0.05
  done
  echo "$3 did not start within 30 s" >&2; exit 1
}

json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# Resident IDs with a valid GB 11643 check character (synthetic: no real person).
make_id() {
  local s=$1 sum=0 i
  local w=(7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2) c=(1 0 X 9 8 7 6 5 4 3 2)
  for i in $(seq 0 16); do sum=$((sum + ${s:i:1} * ${w[i]})); done
  echo "$s${c[sum % 11]}"
}

new=0
[ -f "$dir/registry/ca/ca.key" ] || new=1

# A new province starts 30 days in the past, so the province console has a history to show: a
# month of verifications answered on time, late, and not at all. The processes live in the past
# through libfaketime (Debian's faketime package; installed here as tests/run.sh does), which
# moves their clocks and nothing else; then they restart at the real time. Without it the
# province starts today, with no history.
past=()
if [ "$new" = 1 ]; then
  if ! ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing faketime from Debian's packages (to give the new province a month of history)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends faketime >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends faketime >/dev/null 2>&1; } || true
  fi
  libfaketime=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1 || true)
  if [ -n "$libfaketime" ]; then
    past=(env "LD_PRELOAD=$libfaketime" "FAKETIME=-30d" FAKETIME_DONT_FAKE_MONOTONIC=1)
  else
    echo "note: faketime is not installed: the province starts today, with no history of late answers (apt-get install faketime)" >&2
  fi
fi
history=$([ "${#past[@]}" -gt 0 ] && echo 1 || echo 0)

if [ "$new" = 1 ]; then
  echo "==> creating the provincial CA (province 62)"
  "${past[@]}" "$bin/registry" --data-dir "$dir/registry" ca init --province 62 >/dev/null
fi

# One provincial supervisor for the province console (a generated password, printed below and
# kept in province.json).
supervisor="省督导"
if [ ! -s "$dir/registry/console.password" ]; then
  python3 -c 'import secrets,string; print("".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16)))' \
    >"$dir/registry/console.password"
  "${past[@]}" "$bin/registry" --data-dir "$dir/registry" operator add --name "$supervisor" --role supervisor \
    --password-file "$dir/registry/console.password" 2>/dev/null
fi

# Starts the registry and the three nodes, with the clock of the array `clock` (empty: the real
# time), and waits until every node sees the others in the directory.
start_province() {
  echo "==> starting the registry"
  rm -f "$dir/registry.ready"
  "${clock[@]}" "$bin/registry" --data-dir "$dir/registry" serve --peer-listen 127.0.0.1:0 --operator-listen 127.0.0.1:0 \
    --console-listen 127.0.0.1:0 --ready-file "$dir/registry.ready" >>"$dir/registry.log" 2>&1 &
  pids+=($!)
  wait_ready "$dir/registry.ready" "$!" registry
  registry_peer=$(json_field "$dir/registry.ready" peer)
  export MPX_REGISTRY_URL="https://$registry_peer"

  for county in "${counties[@]}"; do
    if [ ! -f "$dir/node-$county/tls/node.crt" ]; then
      token=$("${clock[@]}" "$bin/registry" --data-dir "$dir/registry" enroll --county "$county" --name "${names[$county]}" 2>/dev/null)
      "${clock[@]}" "$bin/exchange-node" --data-dir "$dir/node-$county" init --county "$county" --name "${names[$county]}" \
        --registry "$MPX_REGISTRY_URL" --ca-cert "$dir/registry/ca/ca.crt" --token "$token" \
        --peer-listen 127.0.0.1:0 --operator-listen 127.0.0.1:0 >/dev/null
      sed -i 's/^directory_refresh_seconds = 30$/directory_refresh_seconds = 5/' "$dir/node-$county/node.toml"
    fi
    if [ ! -s "$dir/node-$county/console.password" ]; then
      # 16 random characters from the OS; the file is 0600 (umask above).
      python3 -c 'import secrets,string; print("".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16)))' \
        >"$dir/node-$county/console.password"
      "${clock[@]}" "$bin/exchange-node" --data-dir "$dir/node-$county" operator add --name "${clerks[$county]}" --role clerk \
        --password-file "$dir/node-$county/console.password" 2>/dev/null
    fi
    echo "==> starting county node $county ${names[$county]}"
    rm -f "$dir/node-$county.ready"
    "${clock[@]}" "$bin/exchange-node" --data-dir "$dir/node-$county" serve --metrics-listen 127.0.0.1:0 --console-listen 127.0.0.1:0 \
      --ready-file "$dir/node-$county.ready" \
      >>"$dir/node-$county.log" 2>&1 &
    pids+=($!)
    wait_ready "$dir/node-$county.ready" "$!" "node-$county"
  done

  # Every node must see the others in the directory before the seed data goes out.
  for county in "${counties[@]}"; do
    for _ in $(seq 1 200); do
      [ "$("$bin/registry" --data-dir "$dir/registry" nodes --json | grep -c '"endpoint":"https')" -ge 3 ] && break
      sleep 0.05
    done
  done
}

# Stops what start_province started (each drains), for a restart at another time.
stop_province() {
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}

node() { local county=$1; shift; "${clock[@]}" "$bin/exchange-node" --data-dir "$dir/node-$county" "$@"; }
case_state() { node "$1" --json cases show "$2" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null || true; }
wait_state() { # COUNTY CASE STATE...: until the case is in one of the states at that county
  local county=$1 case_id=$2 state; shift 2
  for _ in $(seq 1 300); do
    state=$(case_state "$county" "$case_id")
    for wanted in "$@"; do [ "$state" = "$wanted" ] && return 0; done
    sleep 0.1
  done
  echo "note: case $case_id did not reach $* at $county in 30 s" >&2
}
# An urgent verification (due in 10 working days) from 621202 about a generated person; prints
# its id.
verify() { # RECIPIENT ID NAME
  node 621202 --json cases send --to "$1" --id "$2" --name "$3" --priority urgent \
    --questions "请核实该人员现居住情况及联系方式" | python3 -c 'import json,sys; print(json.load(sys.stdin)["case_id"])'
}

clock=()
if [ "$history" = 1 ]; then
  clock=("${past[@]}")
  start_province
  echo "==> a month of history: 30 days ago 621202 asks 成县 three verifications and 城关区 two"
  h1=$(verify 621221 "$(make_id 62122119800101111)" 周测一)
  h2=$(verify 621221 "$(make_id 62122119810202222)" 吴测二)
  h3=$(verify 621221 "$(make_id 62122119820303333)" 郑测三)
  h4=$(verify 620102 "$(make_id 62010219830404444)" 冯测四)
  h5=$(verify 620102 "$(make_id 62010219840505555)" 陈测五)
  for pair in "621221 $h1" "621221 $h2" "621221 $h3" "620102 $h4" "620102 $h5"; do
    wait_state $pair delivered accepted
  done
  # Answered the same day: on time.
  node 621221 cases respond "$h1" --answer "经核实，该人员仍在本县居住" >/dev/null
  node 620102 cases accept "$h4" --note "已受理" >/dev/null
  node 620102 cases respond "$h4" --answer "经核实，该人员已于本年迁往兰州新区" >/dev/null
  wait_state 621202 "$h1" responded
  wait_state 621202 "$h4" responded
  stop_province
  clock=()
fi
start_province
if [ "$history" = 1 ]; then
  # Today, 30 days on: 成县 answers one more, late; 成县's third and 城关区's second stay
  # unanswered, overdue (the nodes escalate them to the province).
  node 621221 cases respond "$h2" --answer "经核实，该人员已返回户籍地" >/dev/null
  wait_state 621202 "$h2" responded
  date -d "-30 days" +%F >"$dir/history"
fi

if [ "$new" = 1 ]; then
  echo "==> seeding generated people and cases"
  node 621202 records add --id "$(make_id 62122119850312101)" --name 张测甲 --hukou 621221 --address "武都区城关镇钟楼路8号" --arrival 2026-03-02 >/dev/null
  node 621202 records add --id "$(make_id 62122119920708202)" --name 李测乙 --hukou 621221 --address "武都区东江镇新民路3号" --arrival 2026-05-18 >/dev/null
  node 621202 records add --id "$(make_id 62010219780101303)" --name 王测丙 --hukou 620102 --address "武都区汉王镇滨河路21号" --arrival 2025-11-20 >/dev/null
  node 621202 records add --id "$(make_id 62120220000229404)" --name 赵测丁 --hukou 621202 --address "武都区城关镇北山路2号" --arrival 2000-02-29 >/dev/null
  node 621221 records add --id "$(make_id 62010219890615505)" --name 陈测戊 --hukou 620102 --address "成县城关镇阳洼路5号" --arrival 2026-08-01 >/dev/null
  node 620102 records add --id "$(make_id 62120219950101606)" --name 刘测己 --hukou 621202 --address "城关区张掖路街道中山路7号" --arrival 2026-01-10 >/dev/null
  node 621202 cases send --to 621221 --id "$(make_id 62122119850312101)" --name 张测甲 --priority urgent \
    --questions "请核实该人员户籍是否仍在贵县，有无迁出记录" >/dev/null
  case_id=$(node 620102 --json cases send --to 621202 --id "$(make_id 62120219950101606)" --name 刘测己 \
    --questions "请核实该人员在贵区的最后居住地址" | python3 -c 'import json,sys; print(json.load(sys.stdin)["case_id"])')
  for _ in $(seq 1 200); do
    node 621202 --json cases inbox | grep -q "$case_id" && break
    sleep 0.05
  done
  node 621202 cases accept "$case_id" --note "已受理" >/dev/null
  node 621202 cases respond "$case_id" --answer "最后居住地址为城关镇北山路2号，2025年12月迁出" >/dev/null
fi

python3 - "$dir" "$supervisor" "${clerks[621202]}" "${clerks[621221]}" "${clerks[620102]}" "${counties[@]}" <<'PY'
import json, sys, os
d, supervisor, clerks, counties = sys.argv[1], sys.argv[2], sys.argv[3:6], sys.argv[6:]
clerk_of = dict(zip(["621202", "621221", "620102"], clerks))
def ready(name):
    return json.load(open(os.path.join(d, name + ".ready")))
def token(path):
    return open(path).read().strip()
reg = ready("registry")
processes = [{"name": "registry", "county": None, "peer": reg["peer"], "operator": reg["operator"],
              "operator_token": token(os.path.join(d, "registry", "operator.token")),
              "console": "http://" + reg["console"] if reg.get("console") else None,
              "console_user": supervisor,
              "console_password": token(os.path.join(d, "registry", "console.password"))}]
for c in counties:
    r = ready("node-" + c)
    processes.append({"name": "node-" + c, "county": c, "peer": r["peer"], "operator": r["operator"],
                      "metrics": r.get("metrics") or None,
                      "operator_token": token(os.path.join(d, "node-" + c, "operator.token")),
                      "console": "http://" + r["console"] if r.get("console") else None,
                      "console_user": clerk_of.get(c),
                      "console_password": token(os.path.join(d, "node-" + c, "console.password"))})
out = {"ca_certificate": os.path.join(d, "registry", "ca", "ca.crt"), "processes": processes}
tmp = os.path.join(d, "province.json.tmp")
json.dump(out, open(tmp, "w"), ensure_ascii=False, indent=2)
os.replace(tmp, os.path.join(d, "province.json"))
PY

history_hint=""
if [ -f "$dir/history" ]; then
  history_hint="  The last 30 days (成县 answered one late and left one unanswered; so did 城关区 one):
  http://$(json_field "$dir/registry.ready" console)/compliance?from=$(cat "$dir/history")&to=$(date +%F)
"
fi

op621202=$(python3 -c 'import json,sys; print([p for p in json.load(open(sys.argv[1]))["processes"] if p["county"]=="621202"][0]["operator"])' "$dir/province.json")
peer621221=$(json_field "$dir/node-621221.ready" peer)
cat <<TXT

A local province is running (registry + counties 621202 武都区, 621221 成县, 620102 城关区).
Addresses, operator tokens and console sign-ins: $dir/province.json   Logs: $dir/*.log

Open the province console (省级监管平台: who answers late, with which case, and the evidence) in a
browser as the supervisor:
  registry    http://$(json_field "$dir/registry.ready" console)   user $supervisor   password $(cat "$dir/registry/console.password")
$history_hint
Open a county's console in a browser and sign in (a clerk per county):
TXT
for county in "${counties[@]}"; do
  printf '  %s %-4s http://%s   user %s   password %s\n' "$county" "${names[$county]}" \
    "$(json_field "$dir/node-$county.ready" console)" "${clerks[$county]}" "$(cat "$dir/node-$county/console.password")"
done
cat <<TXT

Try, as a clerk of 621202 (武都区):
  $bin/exchange-node --data-dir $dir/node-621202 cases outbox
  $bin/exchange-node --data-dir $dir/node-621202 cases inbox --all
  $bin/exchange-node --data-dir $dir/node-621202 records list --purpose "quickstart tour"
  $bin/exchange-node --data-dir $dir/node-621202 records add --id $(make_id 62122119880808707) --name 孙测庚 --hukou 621221 --address "武都区城关镇" 
and as a clerk of 621221 (成县), the hukou county, which was told automatically:
  $bin/exchange-node --data-dir $dir/node-621221 cases inbox
  $bin/exchange-node --data-dir $dir/node-621221 records list --purpose "quickstart tour" --status living_elsewhere
As a provincial supervisor (every query needs a purpose and is audited):
  $bin/registry --data-dir $dir/registry locate $(make_id 62122119850312101) --purpose "quickstart tour"
  $bin/registry --data-dir $dir/registry counts --purpose "quickstart tour"
  $bin/registry --data-dir $dir/registry flows --from 2025-01-01 --to 2026-12-31 --suppress-below 1 --purpose "quickstart tour"
  $bin/registry --data-dir $dir/registry report --period $(date +%Y-%m)      # who answers late (also --format md|csv|json)
  $bin/registry --data-dir $dir/registry watch --no-follow                  # province alerts
The province's directory, deadline alerts, and Prometheus metrics:
  $bin/registry --data-dir $dir/registry nodes
  $bin/exchange-node --data-dir $dir/node-621221 alerts watch --include-open
  curl -s http://$(json_field "$dir/node-621202.ready" metrics)/metrics | grep '^mpx_'

gRPC (reflection is on), e.g. with grpcurl or 'buf curl':
  grpcurl -plaintext -H "authorization: Bearer \$(cat $dir/node-621202/operator.token)" \\
    -d '{"direction":"CASE_DIRECTION_OUTBOUND"}' $op621202 mpx.v1.Cases/ListCases
  grpcurl -cacert $dir/registry/ca/ca.crt -cert $dir/node-621202/tls/node.crt -key $dir/node-621202/tls/node.key \\
    -authority c621221.county.mpx $peer621221 grpc.health.v1.Health/Check

Ctrl-C stops everything cleanly.
TXT

wait
