//! `datagouv mcp` driven by an MCP client that no one here wrote: the
//! official Python SDK (`mcp` from PyPI, installed by `stack.sh install`),
//! over stdio and over streamable HTTP, against the local real servers.
//! `tests/mcp/check_mcp.py` initializes, lists the tools (every official
//! name and parameter), calls every tool and checks each answer against
//! what udata, api-tabular and the metrics API hold (fetched independently),
//! runs the two-condition query the official server cannot answer, and the
//! error cases; over HTTP also 50 concurrent calls. It prints its figures
//! (`figure: …`) and ends with `N passed, M failed`.

use std::process::Command;

fn check(transport: &str) {
    let python = match std::env::var("DATAGOUV_TEST_MCP_PYTHON") {
        Ok(python) => python,
        Err(_) if std::env::var_os("DATAGOUV_SKIP_SERVER_TESTS").is_some() => {
            eprintln!("skipped: DATAGOUV_SKIP_SERVER_TESTS is set, the MCP client did not run");
            return;
        }
        Err(_) => panic!(
            "the local server stack is not running: run the tests with \
             `bash tests/stack/stack.sh run target/stack -- cargo test --workspace`"
        ),
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/mcp/check_mcp.py");
    let output = Command::new(&python)
        .arg(script)
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_datagouv"),
            "--transport",
            transport,
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- {transport}\n{stdout}");
    assert!(
        output.status.success(),
        "the MCP client's checks failed over {transport}:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.ends_with(" 0 failed") && l.contains(" passed, ")),
        "no summary line over {transport}:\n{stdout}"
    );
}

#[test]
fn the_official_python_client_drives_the_server_over_stdio_then_http() {
    check("stdio");
    check("http");
}
