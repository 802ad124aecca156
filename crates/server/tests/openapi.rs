//! The checked-in OpenAPI document (`frontend/src/lib/openapi.json`, which the viewer's TypeScript types
//! are generated from) is the one the worker serves at `GET /api/openapi.json`: rendered from the answer
//! types here and compared byte for byte, so a change to an answer type that is not carried to the
//! viewer fails CI. `UPDATE_OPENAPI=1 cargo test -p claude-mem-server --test openapi` rewrites it.

use std::path::Path;

const REGENERATE: &str = "UPDATE_OPENAPI=1 cargo test -p claude-mem-server --test openapi \
                          && (cd frontend && npm run gen:api)";

#[test]
fn checked_in_openapi_document_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../frontend/src/lib/openapi.json");
    let rendered = claude_mem_server::openapi::document_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v != "0") {
        std::fs::write(&path, &rendered).expect("write frontend/src/lib/openapi.json");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != rendered {
        let line = checked_in
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "its length".to_owned(), |i| format!("line {}", i + 1));
        panic!(
            "frontend/src/lib/openapi.json is not the document the worker serves (first difference: \
             {line}). Regenerate it and the viewer's types with:\n    {REGENERATE}"
        );
    }
}

#[test]
fn document_covers_the_routes_clients_use() {
    let doc: serde_json::Value =
        serde_json::from_str(&claude_mem_server::openapi::document_json()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/health",
        "/api/search",
        "/api/observations",
        "/api/observations/{id}",
        "/api/timeline",
        "/api/memories",
        "/api/openapi.json",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} is not in the document"
        );
    }
    let params: Vec<&str> = doc["paths"]["/api/search"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["q", "mode", "kind", "type", "since", "limit", "offset"] {
        assert!(
            params.contains(&name),
            "/api/search lacks {name}: {params:?}"
        );
    }
    for schema in [
        "SearchAnswer",
        "ObservationRow",
        "Health",
        "ObservationPage",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} is not a schema"
        );
    }
}
