//! `HookEvent::parse` on arbitrary input: the first line is the endpoint's event name (`/hooks/{event}`),
//! the rest the body. It must never panic, and what it accepts must be consistent.
#![no_main]

use claude_mem_fuzz::hook_event::HookEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (path_event, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => ("PostToolUse".to_owned(), data),
    };
    match HookEvent::parse(&path_event, body) {
        Ok(e) => {
            // The dedup key names the event and session, so two sessions can never collide.
            let prefix = format!("{}:{}:", e.event_name, e.session_id);
            assert!(
                e.event_key.starts_with(&prefix),
                "{} vs {prefix}",
                e.event_key
            );
            assert!(!e.session_id.trim().is_empty());
            assert!(!e.project.is_empty());
            // What is stored is the filtered payload, as valid JSON.
            let stored: serde_json::Value =
                serde_json::from_str(e.payload_json()).expect("stored payload is JSON");
            assert_eq!(stored, serde_json::Value::Object(e.payload.clone()));
            // A redelivery of the same bytes maps to the same key (that is what dedup relies on).
            let again = HookEvent::parse(&path_event, body).expect("same input, same verdict");
            assert_eq!(again.event_key, e.event_key);
        }
        Err(e) => {
            assert!(!e.code().is_empty());
            assert!(!e.to_string().is_empty());
        }
    }
});
