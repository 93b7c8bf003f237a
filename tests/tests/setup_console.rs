//! The default console exporters through `towerlight::setup`: a real Axum server, real requests,
//! and what a developer would read on the terminal.

use towerlight::setup::Setup;
use towerlight_tests::axum_harness::AxumHarness;
use towerlight_tests::{client, vars, Harness, SharedBuf};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_and_request_summary_on_the_console() {
    let out = SharedBuf::default();
    // Nothing configured: console traces and metrics are the defaults.
    let guard = Setup::new()
        .env_lookup(vars(&[("OTEL_SERVICE_NAME", "shop")]))
        .console_output(out.clone())
        .console_color(false)
        .build()
        .unwrap();
    let server = AxumHarness::start(guard.config()).await;
    let http = client::http();
    let response = http
        .get(server.url("/users/7"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for _ in 0..2 {
        let response = http.get(server.url("/status/503")).send().await.unwrap();
        assert_eq!(response.status(), 503);
    }
    tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .unwrap()
        .unwrap();

    let text = out.text();
    assert!(
        !text.contains('\x1b'),
        "no colours when asked not to:\n{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    // The trace continues the remote parent: same trace id, the server span is its local root.
    let header = lines
        .iter()
        .position(|l| l.starts_with("● trace 4bf92f3577b34da6a3ce929d0e0e4736  shop  1 span  "))
        .unwrap_or_else(|| panic!("no trace header in:\n{text}"));
    let row = lines[header + 1];
    assert!(row.starts_with("  GET /users/{id}  server "), "{row:?}");
    assert!(
        row.ends_with(" |████████████████████████|  200 url.path=/users/7"),
        "{row:?}"
    );
    let failing: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("  GET /status/{code}  server "))
        .collect();
    assert_eq!(failing.len(), 2, "{text}");
    for row in failing {
        assert!(
            row.ends_with("|  503 ✗ error url.path=/status/503 error.type=503"),
            "{row:?}"
        );
    }

    // The request summary comes last, from the duration histogram.
    let summary = lines
        .iter()
        .position(|l| *l == "● request summary for shop")
        .unwrap_or_else(|| panic!("no summary in:\n{text}"));
    assert!(summary > header);
    assert_eq!(
        lines[summary + 1],
        "HTTP server          requests  errors       p50       p90       p99"
    );
    assert!(
        lines[summary + 2].starts_with("  GET /status/{code}        2       2 "),
        "{:?}",
        lines[summary + 2]
    );
    assert!(
        lines[summary + 3].starts_with("  GET /users/{id}           1       0 "),
        "{:?}",
        lines[summary + 3]
    );
    assert_eq!(lines[summary + 4..], [""], "{text}");
}
