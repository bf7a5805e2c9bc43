//! `datagouv mcp` driven by an MCP client that no one here wrote: the
//! official Python SDK (`mcp` from PyPI, installed by `stack.sh install`),
//! over stdio and over streamable HTTP, against the local real servers.
//! `tests/mcp/check_mcp.py` initializes, lists the tools (every official
//! name and parameter), calls every tool and checks each answer against
//! what udata, api-tabular and the metrics API hold (fetched independently),
//! runs the two-condition query the official server cannot answer, and the
//! error cases; over HTTP also 50 concurrent calls. It checks the guarded
//! fetches of catalog URLs (a loopback host refused and unreached without
//! `--allow-private-urls`, a 50 MB document stopped at the cap), reuses and
//! topics, the query udata receives without generic words, the stateless
//! HTTP mode and a client leaving mid-call, and that every listed tool
//! answered a success. It prints its figures
//! (`figure: …`) and ends with `N passed, M failed`. Its security part
//! drives a server holding a user's key with hostile input: ids that would
//! climb to other endpoints, symbolic links out of the allowed folder,
//! foreign `Origin`s and remote `Host` names.

use std::process::Command;

fn check(transport: &str, part: &str) {
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
            "--part",
            part,
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- {transport} {part}\n{stdout}");
    assert!(
        output.status.success(),
        "the MCP client's checks ({part}) failed over {transport}:\n{stdout}\n{stderr}"
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
    check("stdio", "main");
    check("http", "main");
}

/// Ids such as `../me/api_tokens` in every tool that takes one (with the
/// user's key set) are refused or find nothing, never another endpoint's
/// data; links out of the `--allow-files` folder are refused; over HTTP a
/// foreign `Origin` gets 403, and `0.0.0.0 --allow-remote` serves remote
/// `Host` names.
#[test]
fn hostile_ids_links_out_of_the_folder_foreign_origins_and_remote_hosts() {
    check("http", "security");
}
