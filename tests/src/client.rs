//! Real clients for the scenarios: reqwest, and raw TCP where a test must misbehave.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A reqwest client that does not pool connections (each test sees fresh connections).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("reqwest client")
}

/// `GET url` with `headers`, through [`http()`]: the response body.
pub async fn get_text(url: &str, headers: &[(&str, &str)]) -> String {
    let mut request = http().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body")
}

/// Sends a raw HTTP/1.1 request and returns the connection after reading at least the response
/// head and the first bytes of the body (`min_bytes` in total).
pub async fn raw_request(addr: SocketAddr, request: &str, min_bytes: usize) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while got.len() < min_bytes {
        let n = stream.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    (stream, String::from_utf8_lossy(&got).into_owned())
}
