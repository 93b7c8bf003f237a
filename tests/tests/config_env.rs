//! Configuration from the environment. One test per binary: it sets process-wide variables.

use towerlight::{Config, ConfigError, SemconvMode};

#[test]
fn bad_and_good_env_values() {
    // This binary runs this single test, so nothing else reads the environment meanwhile.
    std::env::set_var("OTEL_PROPAGATORS", "tracecontext,carrier-pigeon");
    let err = Config::from_env().expect_err("unknown propagator");
    assert!(matches!(err, ConfigError::Propagators(_)));
    let message = err.to_string();
    assert!(message.contains("OTEL_PROPAGATORS"), "{message}");
    assert!(message.contains("carrier-pigeon"), "{message}");
    // What `?` in `main` prints (the Debug form) is the same sentence.
    assert_eq!(format!("{err:?}"), message);
    // `Config::new` does not fail: the layer warns once — not once per instrument (HTTP and
    // gRPC) — and falls back to W3C.
    let log = towerlight_tests::SharedBuf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .without_time()
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let _layer = towerlight::HttpServerLayer::with_config(Config::new());
    });
    let text = log.text();
    assert_eq!(text.matches("WARN").count(), 1, "{text}");
    assert!(
        text.contains("falling back to tracecontext,baggage"),
        "{text}"
    );
    std::env::remove_var("OTEL_PROPAGATORS");

    // A value with no method in it counts as unset: GET stays GET.
    std::env::set_var("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS", ",,,");
    assert_eq!(
        format!("{:?}", towerlight::KnownMethods::from_env()),
        format!("{:?}", towerlight::KnownMethods::default())
    );

    // The attribute value length limit: a bad value names its variable.
    std::env::set_var("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "lots");
    let err = Config::from_env().expect_err("not a number");
    assert_eq!(
        err.to_string(),
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=\"lots\": expected a number of bytes (0 or more)"
    );
    std::env::remove_var("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT");

    std::env::set_var("OTEL_PROPAGATORS", "b3multi, jaeger");
    std::env::set_var("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup");
    std::env::set_var("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS", "GET,PURGE");
    let config = Config::from_env().expect("valid values");
    let debug = format!("{config:?}");
    assert!(debug.contains("PURGE"), "{debug}");
    assert_eq!(SemconvMode::from_env(), SemconvMode::parse("http/dup"));
}
