#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted text (hook payloads, search queries). Two modes:
#
#   scripts/fuzz.sh --replay [target…]   # what CI runs: every committed input once, no mutation
#   scripts/fuzz.sh [target…]            # exploration: FUZZ_SECONDS (30) of coverage-guided mutation each
#   FUZZ_SECONDS=600 scripts/fuzz.sh search_query
#
# --replay runs each file of fuzz/seeds/<target>/ (a committed, minimised corpus) and
# fuzz/regressions/<target>/ (every input a fuzzer ever crashed on, minimised) through the target exactly
# once, with a fixed seed and no mutation: the same inputs and the same verdict on every run, so CI fails
# for a known bug and never for an unlucky random walk. Exploration is for people to run on purpose; a
# crash leaves its input in fuzz/artifacts/<target>/: minimise it (`<binary> -minimize_crash=1
# -runs=10000 <file>`), add it to fuzz/regressions/<target>/, fix the bug, and CI keeps it fixed. New
# coverage it finds stays in fuzz/corpus/<target>/ (not committed); fold it into the seeds with
# `<binary> -merge=1 fuzz/seeds/<target> fuzz/corpus/<target>`. See docs/ops/chaos.md.
#
# No cargo-fuzz install: compiling cargo-fuzz itself took ~7 min of every CI run, so this script passes
# libFuzzer's coverage flags to plain cargo itself -- the same flags `cargo fuzz build --sanitizer none`
# passes (cargo-fuzz 0.13, src/project.rs) -- and runs the target binaries directly. Stable Rust only: no
# AddressSanitizer, which needs the nightly `-Zsanitizer`; coverage-guided libFuzzer still catches panics,
# aborts, timeouts and memory blow-ups, and the parsers are safe Rust, where ASan finds little. For a
# deeper run with ASan, cargo-fuzz works on this same crate:
#   cargo install cargo-fuzz --locked && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer address <target>
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${FUZZ_SECONDS:-30}"
REPLAY=0
if [ "${1:-}" = "--replay" ]; then
    REPLAY=1
    shift
fi
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(hook_event search_query)
fi

# Extra seeds for exploration: the captured Claude Code payloads (shared/fixtures/hooks, beside the
# repository) in the target's input format, plus a few hand-written edge cases, in the working corpus
# fuzz/corpus/<target>/ (never committed; fuzz/seeds/ is the committed corpus).
FIXTURES="${CLAUDE_MEM_FIXTURES:-../shared/fixtures/hooks}"
seed() {
    local dir="fuzz/corpus/$1"
    mkdir -p "$dir"
    case "$1" in
        hook_event)
            if [ -d "$FIXTURES" ]; then
                for f in "$FIXTURES"/*.json; do
                    local event
                    event="$(sed -n 's/.*"hook_event_name": *"\([A-Za-z]*\)".*/\1/p' "$f" | head -n1)"
                    { printf '%s\n' "${event:-PostToolUse}"; cat "$f"; } >"$dir/$(basename "$f" .json)"
                done
            else
                echo "note: $FIXTURES missing; seeding $1 with hand-written inputs only"
            fi
            printf 'Stop\n{"session_id":"s","last_assistant_message":"<private>x</private> sk-ant-api03-%s"}' \
                "$(printf 'x%.0s' {1..40})" >"$dir/seed-private"
            printf 'post-tool-use\n{"session_id":"s","tool_name":"Bash","tool_use_id":"t","cwd":"/a/b/"}' \
                >"$dir/seed-kebab"
            printf 'UserPromptSubmit\n{"session_id":"s","prompt":"\\ud800 \\u0000"}' >"$dir/seed-escapes"
            ;;
        search_query)
            # First byte: filter flags and limit; the rest: the query text.
            printf '\x00parseConfigFile crash' >"$dir/seed-ident"
            printf '\x07"line number" src/store/db.rs' >"$dir/seed-phrase"
            printf '\xff"unterminated HTTPServerError2 __ \xc3\xa9' >"$dir/seed-odd"
            printf '\x0a2026-11-01T10:00:00Z' >"$dir/seed-date"
            ;;
    esac
}

# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (cargo applies them to the
# target only), as cargo-fuzz does. 16 codegen units instead of cargo-fuzz's 1: the build (Tantivy
# instrumented) drops from ~6 to ~4.8 min on 2 cores, for ~10-40 % fewer executions per second.
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
FUZZ_FLAGS=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    -Cllvm-args=-simplifycfg-branch-fold-threshold=0
    -Cllvm-args=-sanitizer-coverage-stack-depth
    --cfg fuzzing
    -Cdebug-assertions
    -Ccodegen-units=16
)
echo "==> building fuzz targets: ${TARGETS[*]}"
bin_args=()
for target in "${TARGETS[@]}"; do bin_args+=(--bin "$target"); done
RUSTFLAGS="${FUZZ_FLAGS[*]} ${RUSTFLAGS:-}" cargo build --manifest-path fuzz/Cargo.toml --locked \
    --release --config 'profile.release.debug="line-tables-only"' --target "$TRIPLE" "${bin_args[@]}"

# Every committed input of a target, once each, in a fixed order; fails on the first that fails.
replay() {
    local target="$1" bin="fuzz/target/$TRIPLE/release/$1" log
    local inputs=()
    local seeds=0 regressions=0
    while IFS= read -r -d '' f; do inputs+=("$f"); seeds=$((seeds + 1)); done \
        < <(find "fuzz/seeds/$target" -type f -print0 2>/dev/null | LC_ALL=C sort -z)
    while IFS= read -r -d '' f; do inputs+=("$f"); regressions=$((regressions + 1)); done \
        < <(find "fuzz/regressions/$target" -type f -print0 2>/dev/null | LC_ALL=C sort -z)
    if [ ${#inputs[@]} -eq 0 ]; then
        echo "error: no committed inputs for $target (fuzz/seeds/$target, fuzz/regressions/$target)" >&2
        return 1
    fi
    log="$(mktemp)"
    # File arguments (not folders) make libFuzzer run exactly those inputs and exit: no mutation.
    if ! "$bin" -seed=1 -runs=1 -timeout=10 -rss_limit_mb=2048 "${inputs[@]}" >"$log" 2>&1; then
        grep -v -e '^Running: ' -e '^Executed ' "$log" | tail -n 40 >&2
        echo "==> $target: FAILED on $(grep '^Running: ' "$log" | tail -n1 | sed 's/^Running: //')" >&2
        rm -f "$log"
        return 1
    fi
    local executed
    executed="$(grep -c '^Executed ' "$log" || true)"
    rm -f "$log"
    if [ "$executed" -ne ${#inputs[@]} ]; then
        echo "error: $target executed $executed of ${#inputs[@]} inputs" >&2
        return 1
    fi
    echo "==> $target: replayed $executed inputs ($seeds seeds, $regressions regressions), all passed"
}

if [ "$REPLAY" = 1 ]; then
    for target in "${TARGETS[@]}"; do
        replay "$target"
    done
    echo "==> fuzz replay: every committed input passed"
    exit 0
fi

for target in "${TARGETS[@]}"; do
    seed "$target"
    mkdir -p "fuzz/artifacts/$target"
    echo "==> fuzzing $target for ${SECONDS_EACH}s"
    # -max_len keeps inputs near real payload sizes; a crash leaves its input in fuzz/artifacts/<target>/
    # (replay: fuzz/target/$TRIPLE/release/<target> <file>) and fails the script. New inputs go to the
    # first folder (the working corpus); the committed seeds and past crashes are read as seeds.
    extra=()
    for d in "fuzz/seeds/$target" "fuzz/regressions/$target"; do
        [ -d "$d" ] && extra+=("$d")
    done
    "fuzz/target/$TRIPLE/release/$target" "fuzz/corpus/$target" "${extra[@]}" \
        -artifact_prefix="fuzz/artifacts/$target/" -max_total_time="$SECONDS_EACH" -max_len=8192 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
echo "==> fuzzing found no crash"
