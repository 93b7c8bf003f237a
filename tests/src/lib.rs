//! End-to-end test kit for towerlight: in-memory telemetry, a [`Harness`] trait that a framework
//! implements by serving the standard routes, and the HTTP server scenario table that every
//! framework runs unchanged (see [`scenario_tests!`]).

/// Every code block of the repository's README, compiled (and run, unless marked `no_run`) as
/// a doc-test: the README never shows code that does not build.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub mod actix_harness;
pub mod axum_harness;
pub mod client;
pub mod grpc_harness;
pub mod hyper_harness;
pub mod jsonrpc_harness;
pub mod otlp_receiver;
pub mod python;
pub mod scenarios;
pub mod telemetry;
pub mod ws_client;

/// The test service's generated code (checked in: `tests/proto/echo.proto`, generated with
/// `tonic-prost-build` from a `protox`-compiled descriptor, so no `protoc` is needed).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!("proto/echo.rs");

    /// The encoded `FileDescriptorSet` of `echo.proto`.
    pub const DESCRIPTOR: &[u8] = include_bytes!("proto/echo_descriptor.bin");
}

use std::future::Future;
use std::net::SocketAddr;

pub use telemetry::{attr_map, HistPoint, Metrics, SumPoint, Telemetry};
use towerlight::Config;

/// A framework under test. It serves these routes, instrumented with towerlight's HTTP server
/// instrument built from the given [`Config`], on `127.0.0.1:0`:
///
/// | route (template)        | behaviour |
/// |-------------------------|-----------|
/// | `GET /users/{id}`       | 200, body `user:{id}`, response header `x-served-by: test` |
/// | `GET /api/v1/users/{id}`| 200 (a nested router where the framework has them) |
/// | `GET /status/{code}`    | answers with that status code, empty body |
/// | `ANY /any`              | 200 for any method |
/// | `POST /echo`            | 200 echoing the request body |
/// | `GET /stream`           | 200, body `a`,`b`,`c` sent 100 ms apart |
/// | `GET /endless`          | 200, a chunk every 10 ms, forever |
/// | `GET /panic`            | the handler panics; the framework answers 500 |
/// | `GET /context`          | body from [`describe_current_context`]; also runs a `tracing` span `handler.work` |
///
/// Anything else is unmatched (404, no route).
pub trait Harness {
    /// The framework's name, for messages.
    const NAME: &'static str;

    /// Starts the server.
    fn start(config: Config) -> impl Future<Output = TestServer> + Send;
}

/// A running test server; stopped when dropped.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Stops the server when dropped.
    pub stop: Box<dyn Send>,
}

impl TestServer {
    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// What `/context` answers: the OpenTelemetry context current in the handler.
///
/// `trace={trace_id} span={span_id} sampled={bool} flags={hex} baggage={k=v,...}` (baggage
/// sorted by key). It also runs a `tracing` span named `handler.work`, so tests can check that
/// `tracing` spans nest under the request span.
pub fn describe_current_context() -> String {
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry::trace::TraceContextExt;
    tracing::info_span!("handler.work").in_scope(|| tracing::info!("working"));
    let cx = opentelemetry::Context::current();
    let sc = cx.span().span_context().clone();
    let mut baggage: Vec<String> = cx
        .baggage()
        .iter()
        .map(|(k, (v, _))| format!("{k}={}", v.as_str()))
        .collect();
    baggage.sort();
    // The flags a downstream call would receive (W3C), which may carry more than the span's.
    let mut out = std::collections::HashMap::new();
    opentelemetry::propagation::TextMapPropagator::inject_context(
        &towerlight::propagation::W3cTraceContext::new(),
        &cx,
        &mut out,
    );
    let out_flags = out
        .get("traceparent")
        .and_then(|tp: &String| tp.rsplit('-').next().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "trace={} span={} sampled={} flags={:02x} out={} baggage={}",
        sc.trace_id(),
        sc.span_id(),
        sc.is_sampled(),
        sc.trace_flags().to_u8(),
        out_flags,
        baggage.join(",")
    )
}

/// Defines one `#[tokio::test]` per HTTP server scenario for a [`Harness`].
///
/// ```ignore
/// towerlight_tests::scenario_tests!(AxumHarness);
/// ```
#[macro_export]
macro_rules! scenario_tests {
    ($harness:ty) => {
        $crate::scenario_tests!(@each $harness;
            success_200_span_and_metric,
            a_hinted_sampler_changes_no_span,
            client_error_404_leaves_status_unset,
            server_error_5xx_sets_error,
            unmatched_route_has_no_route,
            head_request_ends_at_the_head,
            unknown_method_is_other,
            nested_router_route,
            query_values_redacted,
            streamed_body_span_ends_after_last_chunk,
            client_disconnect_mid_body_is_cancelled,
            handler_panic_is_recorded_and_restored,
            incoming_parent_and_sampled_flag,
            unsampled_parent_propagates_without_span,
            level2_random_flag_kept,
            level2_random_flag_unsampled_and_roots,
            malformed_trace_headers_ignored,
            invalid_utf8_headers_are_harmless,
            public_endpoint_starts_root_with_link,
            baggage_current_in_handler,
            headers_allow_listed_and_sensitive,
            context_current_in_handler,
            tracing_span_nests_under_server_span,
            opt_in_metrics_exact_points,
            opt_in_metrics_off_by_default,
            filter_skips_but_propagates,
            http_dup_emits_old_names,
            span_name_formatter_and_hooks,
            query_secrets_redacted_decoded_any_case,
            client_values_are_capped
        );
    };
    (@each $harness:ty; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "current_thread")]
            async fn $name() {
                $crate::scenarios::$name::<$harness>().await;
            }
        )*
    };
}

/// An environment for `towerlight::setup::Setup::env_lookup`: these variables and nothing
/// else, so tests never read or change the process environment.
pub fn vars(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// A writer whose bytes a test can read back (console output, log lines).
#[derive(Clone, Default)]
pub struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuf {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for SharedBuf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SharedBuf {
    type Writer = SharedBuf;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
