//! `towerlight::setup` installing globals from the *process* environment, with the `tracing`
//! integration. This binary has a single test: it sets process variables and installs the
//! global providers, propagator and `tracing` subscriber, which no other test may see.

use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState};
use towerlight::setup::Setup;
use towerlight_tests::axum_harness::AxumHarness;
use towerlight_tests::otlp_receiver::OtlpReceiver;
use towerlight_tests::{client, Harness, SharedBuf};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_from_process_env_with_tracing() {
    let logs = OtlpReceiver::http().await;
    let logs_endpoint = format!("{}/v1/logs", logs.endpoint());
    let traces_endpoint = format!("{}/v1/traces", logs.endpoint());
    // Edition 2021: `set_var` is safe; nothing else runs in this process yet.
    for (k, v) in [
        ("OTEL_SERVICE_NAME", "global-shop"),
        ("OTEL_PROPAGATORS", "tracecontext"),
        ("OTEL_LOGS_EXPORTER", "otlp"),
        ("OTEL_TRACES_EXPORTER", "console,otlp"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            traces_endpoint.as_str(),
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", logs_endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("RUST_LOG", "info"),
    ] {
        std::env::set_var(k, v);
    }
    // Order must not matter: this server's layer is built *before* the providers exist (the
    // natural order in `main`: router first, then `init()`), and still records.
    let early = AxumHarness::start(towerlight::Config::new()).await;

    let console = SharedBuf::default();
    let lines = SharedBuf::default();
    let guard = Setup::new()
        .console_output(console.clone())
        .console_color(false)
        .with_tracing(true)
        .log_writer(lines.clone())
        .install()
        .unwrap();

    // The global propagator is the one OTEL_PROPAGATORS names: trace context, no baggage.
    let propagator = opentelemetry::global::get_text_map_propagator(|p| {
        p.fields().map(str::to_owned).collect::<Vec<_>>()
    });
    assert_eq!(propagator, vec!["traceparent", "tracestate"]);

    // A second install fails clearly: the subscriber is already set.
    let again = Setup::new()
        .env_lookup(|_| None)
        .traces_exporters([])
        .metrics_exporters([])
        .with_tracing(true)
        .install()
        .unwrap_err();
    assert!(
        again
            .to_string()
            .starts_with("with_tracing(true): a global tracing subscriber is already installed"),
        "{again}"
    );

    // Layers built with the default Config use the installed globals.
    let server = AxumHarness::start(towerlight::Config::new()).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = client::http()
        .get(server.url("/context"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();

    let early_trace = "0af7651916cd43dd8448eb211c80319c";
    let response = client::http()
        .get(early.url("/users/7"))
        .header(
            "traceparent",
            format!("00-{early_trace}-b7ad6b7169203331-01"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "user:7");

    tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .unwrap()
        .unwrap();

    // The handler's `tracing` span (`handler.work`) is a child of the request span, printed in
    // the request's trace by the console exporter.
    let text = console.text();
    let header = format!("● trace {trace_id}  global-shop  2 spans  ");
    let at = text
        .lines()
        .position(|l| l.starts_with(&header))
        .unwrap_or_else(|| panic!("no {header:?} in:\n{text}"));
    let rows: Vec<&str> = text.lines().skip(at + 1).take(2).collect();
    assert!(rows[0].starts_with("  GET /context  "), "{rows:?}");
    assert!(
        rows[1].starts_with("  └─ handler.work  internal "),
        "{rows:?}"
    );

    // The layer built before `install()` picked up the providers at its first request.
    let early_header = format!("● trace {early_trace}  global-shop  1 span  ");
    assert!(
        text.lines().any(|l| l.starts_with(&early_header)),
        "no {early_header:?} in:\n{text}"
    );

    // The log line of the event inside `handler.work` carries the request's trace id.
    let log = lines.text();
    let working = log
        .lines()
        .find(|l| l.ends_with("working"))
        .unwrap_or_else(|| panic!("no `working` line in:\n{log}"));
    assert!(
        working.starts_with(&format!("trace_id={trace_id} span_id=")),
        "{working}"
    );

    // And the same event reached the OTLP logs receiver, with the trace context and resource.
    let records = logs.logs();
    let record = records
        .iter()
        .find(|r| r.body == "working")
        .unwrap_or_else(|| panic!("no `working` record in {records:#?}"));
    assert_eq!(record.trace_id, trace_id);
    assert_eq!(record.severity_text, "INFO");
    assert_eq!(record.resource["service.name"], "global-shop");
    let span_id = &working["trace_id=".len() + 32 + " span_id=".len()..][..16];
    assert_eq!(record.span_id, span_id);
    // No made-up event name (`tracing` names events `event <file>:<line>`) and no attribute
    // the conventions do not register.
    assert_eq!(record.event_name, "");
    assert!(record.attributes.is_empty(), "{:?}", record.attributes);

    // The `tracing` span over OTLP: only registered attribute names (no `target`, `level`,
    // `busy_ns`, `idle_ns`, `code.module.name`).
    let spans = logs.spans();
    let work = spans
        .iter()
        .find(|s| s.name == "handler.work")
        .unwrap_or_else(|| panic!("no handler.work span in {spans:#?}"));
    let keys: Vec<&str> = work.attributes.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec!["thread.id", "thread.name"],
        "{:?}",
        work.attributes
    );
    assert_eq!(work.trace_id, trace_id);
    // `setup`'s sampler (parentbased_always_on) reads no attributes, so the layer gives the
    // request span its attributes once it records: the sampled span still has them all.
    let request = spans
        .iter()
        .find(|s| s.name == "GET /context")
        .unwrap_or_else(|| panic!("no GET /context span in {spans:#?}"));
    assert_eq!(request.attributes["url.path"], "/context");
    assert_eq!(request.attributes["http.route"], "/context");
    assert_eq!(request.attributes["http.request.method"], "GET");
    assert_eq!(request.attributes["url.scheme"], "http");
    assert_eq!(request.attributes["server.address"], "127.0.0.1");
    assert_eq!(request.attributes["http.response.status_code"], "200");

    // Injecting through the global propagator writes W3C trace context.
    let cx = opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_hex(trace_id).unwrap(),
        opentelemetry::trace::SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ));
    let mut carrier = std::collections::HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    assert_eq!(
        carrier.get("traceparent").map(String::as_str),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
}
