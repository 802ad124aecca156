#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted text (hook payloads, search queries) for a short, bounded time
# each, failing on the first crash. CI runs it at the end of scripts/test.sh; locally:
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS (30) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh search_query
#
# Stable Rust only: cargo-fuzz's default AddressSanitizer build needs `-Zsanitizer`, a nightly flag, so
# the targets are built with `--sanitizer none` (coverage-guided libFuzzer, panics and aborts still
# caught; the parsers are safe Rust, where ASan finds little). To run with ASan on stable anyway:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer address <target>
# See docs/ops/chaos.md.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
SECONDS_EACH="${FUZZ_SECONDS:-30}"
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(hook_event search_query)
fi

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "==> installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# Seed corpus: the captured Claude Code payloads (shared/fixtures/hooks, beside the repository) in the
# target's input format, plus a few hand-written edge cases. Generated, never committed.
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

for target in "${TARGETS[@]}"; do
    seed "$target"
    echo "==> fuzzing $target for ${SECONDS_EACH}s"
    # -max_len keeps inputs near real payload sizes; a crash leaves its input in fuzz/artifacts/<target>/
    # and fails the script.
    # 16 codegen units instead of cargo-fuzz's 1: the build (Tantivy instrumented) drops from ~6 to
    # ~4.8 min on 2 cores, for ~10-40 % fewer executions per second.
    cargo fuzz run --sanitizer none --codegen-units 16 "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
echo "==> fuzzing found no crash"
