//! Python peers (jsonrpcclient, jsonrpcserver, websockets) in a virtual environment of the
//! project's own: `.ci/run` creates it and sets `TOWERLIGHT_PYTHON`; without that variable the
//! first test that needs it creates `target/python` itself (one `pip install` from PyPI), so
//! `cargo test --workspace` works on a fresh machine too.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The packages the peers use, pinned to the versions the tests were written against.
pub const PACKAGES: [&str; 3] = [
    "websockets==17.4",
    "jsonrpcclient==4.0.3",
    "jsonrpcserver==5.0.9",
];

/// The Python interpreter of the peers' environment, created if needed.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("TOWERLIGHT_PYTHON") {
                return PathBuf::from(path);
            }
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/python");
            let python = dir.join("bin/python");
            let ready = dir.join("ready");
            if !ready.exists() {
                create(&dir);
            }
            python
        })
        .clone()
}

/// Creates the environment under an inter-process lock (test binaries run in parallel).
fn create(dir: &std::path::Path) {
    let lock = dir.with_extension("lock");
    let deadline = Instant::now() + Duration::from_secs(300);
    while std::fs::create_dir(&lock).is_err() {
        assert!(
            Instant::now() < deadline,
            "waited 5 min for {}",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(200));
        if dir.join("ready").exists() {
            return;
        }
    }
    let run = |cmd: &mut Command| {
        let status = cmd.status().expect("run python");
        assert!(status.success(), "{cmd:?} failed");
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(dir));
    run(Command::new(dir.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(PACKAGES));
    std::fs::write(dir.join("ready"), "").unwrap();
    let _ = std::fs::remove_dir(&lock);
}

/// Runs a Python script with the peers' interpreter and returns its standard output.
pub async fn run(script: &str, args: &[&str]) -> String {
    let python = python();
    let output = tokio::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("python runs");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A `websockets` client: connects to `argv[1]` (with a `traceparent` header), sends "hi",
/// expects it back, pings and waits for the pong, then closes with 4000 and a reason at the
/// 123-byte limit.
pub const WEBSOCKETS_CLIENT: &str = r#"
import asyncio, sys
from websockets.asyncio.client import connect
async def main():
    headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    async with connect(sys.argv[1], additional_headers=headers) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
        await (await ws.ping(b"rtt"))
        await ws.close(code=4000, reason="r" * 123)
asyncio.run(main())
"#;
