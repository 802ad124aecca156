//! `HookEvent::parse` on arbitrary input: the first line is the endpoint's event name (`/hooks/{event}`),
//! the rest the body. It must never panic, and what it accepts must be consistent; the properties live
//! beside the parser (`check_fuzz_input`) so `cargo test` replays every past crash with the same checks.
#![no_main]

use claude_mem_fuzz::hook_event::check_fuzz_input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = check_fuzz_input(data) {
        panic!("{why}");
    }
});
