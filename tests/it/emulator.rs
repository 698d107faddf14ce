//! The built `lead-export` binary under cargo-lambda's Runtime API emulator
//! (`cargo lambda watch --only-lambda-apis`, cargo-lambda 1.9.2 from
//! `requirements-dev.txt`), each event sent with `cargo lambda invoke`:
//! every top-level `events/*.json` fixture and its gzip and XLSX variants,
//! each answer checked as API Gateway reads it against the handler in
//! process and the contract. The emulator sends `Lambda-Runtime-Deadline-Ms:
//! 600000` (a duration where a time is due): the binary must fall back to
//! `EXPORT_TIMEOUT_SECONDS` rather than answer 504 at once. Data in moto.

use crate::runtime_loop::{
    check_case, fixture_cases, gather, in_process_answer, random_secret, Answer, Seeded,
};
use crate::support;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lead_export::auth::sign_hs256;
use serde_json::Value;
use support::*;

/// The longest one `cargo lambda invoke` may take.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// The `cargo-lambda` of the project's venv (`VENV`, default `.venv`, as
/// `scripts/venv.sh` creates it), else one on `PATH`; a clear failure when
/// there is none.
fn cargo_lambda() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var("VENV").map_or_else(|_| root.join(".venv"), PathBuf::from);
    let venv = if venv.is_relative() {
        root.join(venv)
    } else {
        venv
    };
    let in_venv = venv.join("bin/cargo-lambda");
    if in_venv.is_file() {
        return in_venv;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("cargo-lambda"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "cargo-lambda is not installed (looked for {} and on PATH): \
             run `make test`, whose venv (scripts/venv.sh, requirements-dev.txt) installs it",
            in_venv.display()
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The emulator and the function process it serves.
struct Emulator {
    tool: PathBuf,
    port: u16,
    watch: Child,
    function: Child,
    watch_logs: Arc<Mutex<String>>,
    function_logs: Arc<Mutex<String>>,
    dir: PathBuf,
}

impl Emulator {
    fn start(tool: PathBuf, app_env: &[(&str, &str)]) -> Emulator {
        let port = free_port();
        let root = env!("CARGO_MANIFEST_DIR");
        // `watch` reads the Cargo.toml of its working directory; with
        // `--only-lambda-apis` it builds and starts nothing itself.
        let mut watch = Command::new(&tool)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", tool.display()));
        let watch_logs = gather(&mut watch);
        let up = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = watch.try_wait().unwrap() {
                panic!(
                    "cargo lambda watch exited ({status}):\n{}",
                    watch_logs.lock().unwrap()
                );
            }
            assert!(
                up.elapsed() < Duration::from_secs(60),
                "cargo lambda watch does not listen on {port}:\n{}",
                watch_logs.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The variables `watch --only-lambda-apis` says the function needs;
        // `_` is the function `cargo lambda invoke _` addresses.
        let mut command = Command::new(env!("CARGO_BIN_EXE_lead-export"));
        command
            .env_clear()
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in app_env {
            command.env(k, v);
        }
        let mut function = command.spawn().expect("lead-export starts");
        let function_logs = gather(&mut function);
        let dir = std::env::temp_dir().join(unique("emulator-events"));
        std::fs::create_dir_all(&dir).unwrap();
        Emulator {
            tool,
            port,
            watch,
            function,
            watch_logs,
            function_logs,
            dir,
        }
    }

    fn logs(&self) -> String {
        format!(
            "cargo lambda watch:\n{}\nlead-export:\n{}",
            self.watch_logs.lock().unwrap(),
            self.function_logs.lock().unwrap()
        )
    }

    /// `cargo lambda invoke -F <event> _`: the JSON the function answered.
    fn invoke(&mut self, name: &str, event: &Value) -> Value {
        let file = self.dir.join(format!("{}.json", unique("event")));
        std::fs::write(&file, event.to_string()).unwrap();
        let mut child = Command::new(&self.tool)
            .args(["lambda", "invoke", "-A", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .args(["--output-format", "json", "-F"])
            .arg(&file)
            .arg("_")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cargo lambda invoke starts");
        let output = gather(&mut child);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if let Some(status) = self.function.try_wait().unwrap() {
                let _ = child.kill();
                panic!("{name}: lead-export exited ({status});\n{}", self.logs());
            }
            if started.elapsed() > INVOKE_TIMEOUT {
                let _ = child.kill();
                panic!("{name}: no answer in {INVOKE_TIMEOUT:?};\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The readers end with the pipes.
        std::thread::sleep(Duration::from_millis(50));
        let text = output.lock().unwrap().clone();
        assert!(
            status.success(),
            "{name}: cargo lambda invoke {status}: {text}\n{}",
            self.logs()
        );
        let json = text.trim_start_matches(|c| c != '{');
        serde_json::from_str(json.trim())
            .unwrap_or_else(|e| panic!("{name}: not the function's JSON ({e}): {text}"))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for child in [&mut self.function, &mut self.watch] {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run make test"]
async fn every_fixture_under_cargo_lambdas_emulator() {
    // Before anything else: without the tool the test fails, saying so.
    let tool = cargo_lambda();
    let seeded = Seeded::new().await;
    let secret = random_secret();
    let token = sign_hs256(secret.as_bytes(), "org_id", ORG_A, 600, None, None).unwrap();
    let oracle = seeded.in_process(&secret);
    let mut emulator = tokio::task::block_in_place(|| Emulator::start(tool, &seeded.env(&secret)));
    let mut statuses = std::collections::BTreeSet::new();
    for case in fixture_cases(&token) {
        let json = tokio::task::block_in_place(|| emulator.invoke(&case.name, &case.event));
        let got = Answer::read(&case.name, &json, case.rest);
        let want = in_process_answer(&oracle, &case.event).await;
        statuses.insert(check_case(&case.name, &got, &want));
    }
    assert!(
        statuses.is_superset(&[200, 400, 401].into()),
        "the fixtures cover an export, a 400 and a 401: {statuses:?}"
    );
    let logs = emulator.logs();
    assert!(
        logs.contains("using EXPORT_TIMEOUT_SECONDS"),
        "the emulator's deadline was not the 600000 this test is about:\n{logs}"
    );
    assert!(
        !logs.contains(&token) && !logs.contains(&secret),
        "a secret in the logs"
    );
}
