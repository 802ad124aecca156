//! Embeddings from any OpenAI-compatible `/embeddings` endpoint (OpenAI, Ollama, vLLM,
//! llama.cpp server, LM Studio, ...), for users who prefer a bigger or shared model.
//!
//! [`Embedder::embed`] is synchronous but the workspace's reqwest is async-only (no `blocking`
//! feature). The requests therefore run on a private current-thread tokio runtime that lives on
//! its own thread; `embed` hands the job over a channel and waits on a std channel for the
//! answer. We chose that over `Handle::try_current()` + `block_in_place` and over a runtime
//! owned by the struct because both of those panic in some caller context: `block_in_place` on
//! a current-thread runtime, `Runtime::block_on` on an async worker thread, and dropping an
//! owned runtime inside async code. With a dedicated thread, `embed` can be called from
//! anywhere (`spawn_blocking` is still the polite place, as it blocks), the embedder can be
//! dropped anywhere, and reqwest's pooled connections always belong to one live runtime.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use crate::{l2_normalize, EmbedError, Embedder};

/// Inputs per HTTP request. OpenAI accepts up to 2048; smaller requests keep each one well
/// inside typical body-size limits and timeouts of self-hosted servers.
const MAX_INPUTS_PER_REQUEST: usize = 128;

/// How much of an error body to quote: enough for the server's message, not a whole HTML page.
const ERROR_BODY_CHARS: usize = 300;

struct Job {
    texts: Vec<String>,
    reply: std_mpsc::Sender<Result<Vec<Vec<f32>>, EmbedError>>,
}

/// Everything a request needs, cloned into each task so concurrent `embed` calls overlap.
#[derive(Clone)]
struct RequestSpec {
    client: reqwest::Client,
    url: String,
    api_key: Option<String>,
    model: String,
    dim: usize,
}

/// Client for an OpenAI-compatible embeddings API.
pub struct OpenAiEmbedder {
    id: String,
    dim: usize,
    jobs: mpsc::UnboundedSender<Job>,
}

impl OpenAiEmbedder {
    /// `base_url` is the API root that `/embeddings` is appended to (e.g.
    /// `https://api.openai.com/v1`); `dim` is what the model is expected to return, checked on
    /// every response so a misconfigured model cannot corrupt an index of another width.
    pub fn new(
        base_url: &str,
        api_key: Option<&str>,
        model: &str,
        dim: usize,
        timeout: Duration,
    ) -> Result<Self, EmbedError> {
        let base = base_url.trim_end_matches('/');
        let url = format!("{base}/embeddings");
        reqwest::Url::parse(&url)
            .map_err(|e| EmbedError::Http(format!("invalid base URL {base_url:?}: {e}")))?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| EmbedError::Http(format!("building HTTP client: {e}")))?;
        let spec = RequestSpec {
            client,
            url,
            api_key: api_key.filter(|k| !k.is_empty()).map(str::to_string),
            model: model.to_string(),
            dim,
        };

        let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), String>>();
        std::thread::Builder::new()
            .name("embed-http".to_string())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                runtime.block_on(async move {
                    // Ends when the embedder (the only sender) is dropped.
                    while let Some(job) = rx.recv().await {
                        let spec = spec.clone();
                        tokio::spawn(async move {
                            let result = spec.embed_all(&job.texts).await;
                            // The caller may have given up (it cannot: it blocks), so ignore.
                            let _ = job.reply.send(result);
                        });
                    }
                });
            })
            .map_err(|e| EmbedError::Http(format!("starting embedding HTTP thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(EmbedError::Http(format!("starting tokio runtime: {e}"))),
            Err(_) => return Err(EmbedError::Http("embedding HTTP thread died".to_string())),
        }

        Ok(Self {
            id: format!("openai:{model}"),
            dim,
            jobs,
        })
    }
}

impl Embedder for OpenAiEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = std_mpsc::channel();
        let job = Job {
            texts: texts.iter().map(|t| t.to_string()).collect(),
            reply,
        };
        self.jobs
            .send(job)
            .map_err(|_| EmbedError::Http("embedding HTTP thread stopped".to_string()))?;
        // Bounded by the client timeout: every request the job makes times out on its own.
        answer
            .recv()
            .map_err(|_| EmbedError::Http("embedding HTTP thread stopped".to_string()))?
    }
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

impl RequestSpec {
    async fn embed_all(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(MAX_INPUTS_PER_REQUEST) {
            out.extend(self.embed_chunk(chunk).await?);
        }
        Ok(out)
    }

    async fn embed_chunk(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = serde_json::json!({ "model": self.model, "input": texts });
        let mut request = self.client.post(&self.url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| EmbedError::Http(format!("POST {}: {e}", self.url)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| EmbedError::Http(format!("reading response from {}: {e}", self.url)))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let snippet: String = text.chars().take(ERROR_BODY_CHARS).collect();
            return Err(EmbedError::Http(format!(
                "POST {} returned {status}: {snippet}",
                self.url
            )));
        }
        let parsed: EmbeddingsResponse = serde_json::from_slice(&bytes)
            .map_err(|e| EmbedError::BadResponse(format!("{}: {e}", self.url)))?;
        self.check_and_order(parsed, texts.len())
    }

    /// Servers may return items in any order (the API says to use `index`), and a wrong count
    /// or width must be an error, never a silently misaligned or mis-sized index entry.
    fn check_and_order(
        &self,
        parsed: EmbeddingsResponse,
        expected: usize,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        if parsed.data.len() != expected {
            return Err(EmbedError::BadResponse(format!(
                "{} embeddings for {expected} inputs",
                parsed.data.len()
            )));
        }
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
        for item in parsed.data {
            if item.embedding.len() != self.dim {
                return Err(EmbedError::BadResponse(format!(
                    "embedding of width {} from model {}, expected {}",
                    item.embedding.len(),
                    self.model,
                    self.dim
                )));
            }
            if item.embedding.iter().any(|x| !x.is_finite()) {
                return Err(EmbedError::BadResponse(
                    "embedding contains NaN or infinity".to_string(),
                ));
            }
            let slot = slots.get_mut(item.index).ok_or_else(|| {
                EmbedError::BadResponse(format!("index {} out of range", item.index))
            })?;
            if slot.is_some() {
                return Err(EmbedError::BadResponse(format!(
                    "index {} returned twice",
                    item.index
                )));
            }
            let mut v = item.embedding;
            l2_normalize(&mut v);
            *slot = Some(v);
        }
        // Count matched and no index repeated, so every slot is filled.
        Ok(slots.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::{Json, Router};
    use serde_json::{json, Value};
    use std::sync::{Arc, Mutex};

    /// Authorization header and JSON body of each request the mock received.
    type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

    #[derive(Clone, Default)]
    struct Mock {
        /// What the next request answers with: status and raw JSON, or `None` for a
        /// well-formed answer computed from the request.
        canned: Arc<Mutex<Option<(StatusCode, Value)>>>,
        delay: Option<Duration>,
        seen: Seen,
    }

    /// Echoes a 3-d vector per input: [len(text), position, 1], listed in reverse order.
    async fn handler(
        State(mock): State<Mock>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        if let Some(d) = mock.delay {
            tokio::time::sleep(d).await;
        }
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        mock.seen.lock().unwrap().push((auth, body.clone()));
        if let Some((status, value)) = mock.canned.lock().unwrap().clone() {
            return (status, Json(value));
        }
        let inputs = body["input"].as_array().cloned().unwrap_or_default();
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .rev()
            .map(|(i, t)| {
                let len = t.as_str().unwrap().len() as f32;
                json!({"object": "embedding", "index": i, "embedding": [len, i as f32, 1.0]})
            })
            .collect();
        (
            StatusCode::OK,
            Json(json!({"object": "list", "data": data, "model": body["model"]})),
        )
    }

    /// Serves the mock on 127.0.0.1:0 from its own runtime, kept alive by the returned value.
    fn serve(mock: Mock) -> (tokio::runtime::Runtime, String) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/v1/embeddings", post(handler))
            .with_state(mock);
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        (rt, format!("http://{addr}/v1"))
    }

    fn embedder(base: &str, timeout: Duration) -> OpenAiEmbedder {
        OpenAiEmbedder::new(base, Some("sk-test"), "text-embedding-3-small", 3, timeout).unwrap()
    }

    #[test]
    fn sends_request_orders_by_index_and_normalises() {
        let mock = Mock::default();
        let (_rt, base) = serve(mock.clone());
        let e = embedder(&format!("{base}/"), Duration::from_secs(5));
        assert_eq!(e.id(), "openai:text-embedding-3-small");
        assert_eq!(e.dim(), 3);

        let texts = ["a", "bbbb", "cc"];
        let out = e.embed(&texts).unwrap();
        assert_eq!(out.len(), 3);
        for (i, (t, v)) in texts.iter().zip(&out).enumerate() {
            let raw = [t.len() as f32, i as f32, 1.0];
            let n = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
            for (got, want) in v.iter().zip(raw) {
                assert!((got - want / n).abs() < 1e-6, "{t}: {v:?}");
            }
        }

        let seen = mock.seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0.as_deref(), Some("Bearer sk-test"));
        assert_eq!(
            seen[0].1,
            json!({"model": "text-embedding-3-small", "input": ["a", "bbbb", "cc"]})
        );
    }

    #[test]
    fn empty_input_makes_no_request() {
        let mock = Mock::default();
        let (_rt, base) = serve(mock.clone());
        let e = embedder(&base, Duration::from_secs(5));
        assert!(e.embed(&[]).unwrap().is_empty());
        assert!(mock.seen.lock().unwrap().is_empty());
    }

    #[test]
    fn large_inputs_are_split_into_requests() {
        let mock = Mock::default();
        let (_rt, base) = serve(mock.clone());
        let e = OpenAiEmbedder::new(&base, None, "m", 3, Duration::from_secs(5)).unwrap();
        let texts: Vec<String> = (0..300).map(|i| "x".repeat(i + 1)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let out = e.embed(&refs).unwrap();
        assert_eq!(out.len(), 300);
        // Vector i was computed from text i (length i + 1), so order survived the split.
        for (i, v) in out.iter().enumerate() {
            let pos = (i % MAX_INPUTS_PER_REQUEST) as f32;
            let len = (i + 1) as f32;
            let ratio = v[0] / v[2];
            assert!((ratio - len).abs() < 1e-3, "{i}: {v:?}");
            assert!((v[1] / v[2] - pos).abs() < 1e-3, "{i}: {v:?}");
        }
        let seen = mock.seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|(auth, _)| auth.is_none()));
    }

    #[test]
    fn error_statuses_are_http_errors() {
        for status in [
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            let mock = Mock::default();
            *mock.canned.lock().unwrap() = Some((status, json!({"error": {"message": "nope"}})));
            let (_rt, base) = serve(mock);
            let err = embedder(&base, Duration::from_secs(5))
                .embed(&["x"])
                .unwrap_err();
            match err {
                EmbedError::Http(msg) => {
                    assert!(msg.contains(status.as_str()), "{msg}");
                    assert!(msg.contains("nope"), "{msg}");
                }
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_answers_are_bad_responses() {
        let cases = [
            json!({"data": [{"index": 0, "embedding": [1.0, 2.0]}]}),
            json!({"data": []}),
            json!({"data": [{"index": 5, "embedding": [1.0, 2.0, 3.0]}]}),
            json!({"unexpected": true}),
        ];
        for body in cases {
            let mock = Mock::default();
            *mock.canned.lock().unwrap() = Some((StatusCode::OK, body.clone()));
            let (_rt, base) = serve(mock);
            let err = embedder(&base, Duration::from_secs(5))
                .embed(&["x"])
                .unwrap_err();
            assert!(matches!(err, EmbedError::BadResponse(_)), "{body}: {err:?}");
        }
    }

    #[test]
    fn timeouts_and_unreachable_servers_are_http_errors() {
        let mock = Mock {
            delay: Some(Duration::from_secs(3)),
            ..Mock::default()
        };
        let (_rt, base) = serve(mock);
        let err = embedder(&base, Duration::from_millis(200))
            .embed(&["x"])
            .unwrap_err();
        assert!(matches!(err, EmbedError::Http(_)), "{err:?}");

        // A port that was just free: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = embedder(
            &format!("http://127.0.0.1:{port}/v1"),
            Duration::from_secs(2),
        )
        .embed(&["x"])
        .unwrap_err();
        assert!(matches!(err, EmbedError::Http(_)), "{err:?}");

        assert!(matches!(
            OpenAiEmbedder::new("not a url", None, "m", 3, Duration::from_secs(1)),
            Err(EmbedError::Http(_))
        ));
    }

    /// The reason for the dedicated thread: calling and dropping from inside async code, even
    /// on a current-thread runtime, must not panic.
    #[tokio::test(flavor = "current_thread")]
    async fn usable_and_droppable_inside_async_code() {
        // The mock's own runtime is built and dropped on another thread: that part is test
        // scaffolding, not what is under test.
        let (rt, base) = std::thread::spawn(|| serve(Mock::default()))
            .join()
            .unwrap();
        let e = embedder(&base, Duration::from_secs(5));
        assert_eq!(e.embed(&["inside"]).unwrap().len(), 1);
        drop(e);
        std::thread::spawn(move || drop(rt)).join().unwrap();
    }
}
