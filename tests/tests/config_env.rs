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
    // `Config::new` does not fail: the layer warns once and falls back to W3C.
    let _layer = towerlight::HttpServerLayer::with_config(Config::new());

    std::env::set_var("OTEL_PROPAGATORS", "b3multi, jaeger");
    std::env::set_var("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup");
    std::env::set_var("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS", "GET,PURGE");
    let config = Config::from_env().expect("valid values");
    let debug = format!("{config:?}");
    assert!(debug.contains("PURGE"), "{debug}");
    assert_eq!(SemconvMode::from_env(), SemconvMode::parse("http/dup"));
}
