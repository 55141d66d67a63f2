#!/usr/bin/env bash
# How long the append scripts hold Redis for one event to a big topic (issue 13 item 9): the
# first script (log entry, topic snapshot, first batch) and the batches after it, as the relay
# calls them (same keys, arguments and defaults: --append-batch 1000, email fallback on or off).
# Times are Redis's own (SLOWLOG, every command logged), so no client or network is counted.
# Needs redis-server and redis-cli 7 (--json) and jq.
#
#   bench/topic_append.sh              # the scripts of the work tree
#   bench/topic_append.sh 0765ed6      # the scripts of a commit, for a before/after
#   SUBS=10000 BATCH=500 RUNS=5 bench/topic_append.sh
#   FIRST_ONLY=1 BATCH=1 bench/topic_append.sh   # the first script alone, with one history: what
#                                                # it costs beyond its batch (the batches skipped)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

REV="${1:-}"
SUBS="${SUBS:-50000}"
BATCH="${BATCH:-1000}"
RUNS="${RUNS:-3}"
FIRST_ONLY="${FIRST_ONLY:-}"
DIR="$(mktemp -d)"
trap 'stop_all; rm -rf "$DIR"' EXIT
trap 'stop_all; rm -rf "$DIR"; exit 130' INT TERM

lua() {
    if [ -n "$REV" ]; then git -C "$ROOT" show "$REV:src/broker/redis/$1"
    else cat "$ROOT/src/broker/redis/$1"; fi
}
# Put together as src/broker/redis/mod.rs does.
{ lua pending.lua; echo; echo "local function append_event()"; lua append.lua; echo; echo "end"
  lua once.lua; } >"$DIR/append.lua"
{ lua pending.lua; echo; lua append_more.lua; } >"$DIR/more.lua"

PORT="$(free_port 26000)"
start_redis "$PORT" "$DIR/redis"
R=(redis-cli -p "$PORT")
P='bench:{0}:'
# The topic: SUBS members u000001..., loaded in chunks of 1,000.
for (( i=1; i<=SUBS; i+=1000 )); do
    args=()
    for (( j=i; j<i+1000 && j<=SUBS; j++ )); do args+=(0 "$(printf 'u%06d' "$j")"); done
    "${R[@]}" ZADD "${P}t:big" "${args[@]}" >/dev/null
done
"${R[@]}" CONFIG SET slowlog-log-slower-than 0 >/dev/null

# eval_timed <file> <redis-cli --eval args...>: runs one script; prints its reply, then the time
# it held Redis (us) as the last line. Redis 7 also logs the commands a script calls, before the
# script itself: the script is the newest EVAL (redis-cli's own HELLO may come after it).
eval_timed() {
    "${R[@]}" SLOWLOG RESET >/dev/null
    "${R[@]}" --eval "$@"
    "${R[@]}" --json SLOWLOG GET 3 | jq -r '[.[] | select(.[3][0] == "EVAL")][0][2]'
}

# One event: the first script, then append_more until nothing is pending. Prints
# "<first script us> <slowest batch us> <all scripts us> <scripts>".
one_event() {
    local fallback="$1" reply id left first us max=0 total n=1
    reply="$(eval_timed "$DIR/append.lua" "${P}log" "${P}epoch" "${P}bridge-lease" \
        "${P}t:big" "${P}bridge-seq" "${P}log" , '{"img_url":"/a.jpg"}' '' '[]' 100 86400 \
        100000 '' "$P" 1 '[]' "$BATCH" "$fallback" 60000 100000 '' '' 86400)"
    id="$(head -1 <<<"$reply")"
    left="$(sed -n 3p <<<"$reply")"
    first="$(tail -1 <<<"$reply")"
    total="$first"
    if [ -n "$FIRST_ONLY" ]; then
        # Drop what the batches would write, so the next run starts alike.
        "${R[@]}" EVAL "for _, k in ipairs(redis.call('KEYS', ARGV[1] .. 'pending*')) do
            redis.call('DEL', k) end" 0 "$P" >/dev/null
        left=0
    fi
    while [ "$left" != 0 ]; do
        reply="$(eval_timed "$DIR/more.lua" , "$P" "$id" "$BATCH" 100 86400)"
        left="$(head -1 <<<"$reply")"
        us="$(tail -1 <<<"$reply")"
        total=$((total + us)); n=$((n + 1))
        [ "$us" -gt "$max" ] && max="$us"
    done
    echo "$first $max $total $n"
}

log "redis $("${R[@]}" INFO server | awk -F: '/^redis_version/ {print $2}' | tr -d '\r'), \
${SUBS} subscribers, batch ${BATCH}, scripts of ${REV:-the work tree}"
printf '| fallback | run | first script us | slowest batch us | all scripts us | scripts |\n'
printf '|---|---|---|---|---|---|\n'
for fallback in '' 1; do
    for (( run=1; run<=RUNS; run++ )); do
        read -r first max total n < <(one_event "$fallback")
        printf '| %s | %d | %d | %d | %d | %d |\n' "${fallback:-off}" "$run" "$first" "$max" "$total" "$n"
    done
done
