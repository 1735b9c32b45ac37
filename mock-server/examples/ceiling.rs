//! A bare axum server that responds to every request with one fixed JSON
//! body, read from a file at start. The benchmarks in `bench/` give it the
//! bytes of a real Checkout Session. It then does the HTTP work fakestripe
//! does (parse the request, read the body, send the same number of bytes)
//! and nothing else, so its throughput is the practical ceiling for an
//! HTTP service on the machine.
//!
//! ```sh
//! cargo run --release -p fakestripe-server --example ceiling -- --port 0 --body session.json
//! ```
//!
//! The first line on stdout is the base URL, as with `fakestripe serve`.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

const USAGE: &str = "usage: ceiling [--port PORT] --body FILE";

fn main() -> ExitCode {
    let (port, path) = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("ceiling: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let body = match std::fs::read(&path) {
        Ok(body) => Bytes::from(body),
        Err(err) => {
            eprintln!("ceiling: cannot read the body file {path}: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("starting the tokio runtime");
    runtime.block_on(serve(port, body))
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<(u16, String), String> {
    let mut port = 0;
    let mut body = None;
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--port" => {
                port = value
                    .parse()
                    .map_err(|_| format!("invalid port `{value}`"))?;
            }
            "--body" => body = Some(value),
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }
    let body = body.ok_or("missing --body")?;
    Ok((port, body))
}

async fn serve(port: u16, body: Bytes) -> ExitCode {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("ceiling: cannot listen on {addr}: {err}");
            return ExitCode::from(3);
        }
    };
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");
    println!("http://{local}");
    let _ = std::io::stdout().flush();
    let router = Router::new().fallback(respond).with_state(body);
    if let Err(err) = axum::serve(listener, router).await {
        eprintln!("ceiling: the server stopped: {err}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Reads the whole request body, as the fake does, then sends the fixed
/// body.
async fn respond(State(body): State<Bytes>, request: Bytes) -> impl IntoResponse {
    drop(request);
    ([(CONTENT_TYPE, "application/json")], body)
}
