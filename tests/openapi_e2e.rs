//! `GET /api/openapi.json` from a real worker is the document checked in at
//! `frontend/src/lib/openapi.json` (what the viewer's TypeScript types are generated from): the binary
//! users run serves the API the viewer was typed against. It is behind the token like the rest of `/api`.

use claude_mem_e2e::*;
use serde_json::Value;
use std::path::Path;

#[test]
fn worker_serves_the_checked_in_openapi_document() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);

    let (status, served) = get_json(&worker, "/api/openapi.json");
    assert_eq!(status, 200, "{served}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../frontend/src/lib/openapi.json");
    let text = std::fs::read_to_string(&path).expect("frontend/src/lib/openapi.json");
    let checked_in: Value = serde_json::from_str(&text).expect("openapi.json is JSON");
    assert!(
        served == checked_in,
        "the worker serves another document than frontend/src/lib/openapi.json; regenerate it with \
         UPDATE_OPENAPI=1 cargo test -p claude-mem-server --test openapi && (cd frontend && npm run gen:api)"
    );
    // Byte for byte too, once pretty-printed as the checked-in file is (key order included).
    let mut pretty = serde_json::to_string_pretty(&served).unwrap();
    pretty.push('\n');
    assert_eq!(pretty, text);
    assert!(served["paths"]["/api/search"]["get"].is_object());

    // Like every /api route but health, not for a caller without the token.
    let anonymous = http_anonymous()
        .get(worker.url("/api/openapi.json"))
        .send()
        .expect("GET");
    assert_eq!(anonymous.status().as_u16(), 401);
    worker.stop();
}
