//! Support code for the workspace tests in `tests/it/`.
//!
//! The real-server tests read the base URLs and keys of the local stack
//! (`tests/stack/stack.sh`) from the environment it exports. Without them
//! a real-server test fails and says how to start the stack, unless
//! `DATAGOUV_SKIP_SERVER_TESTS=1` asks to skip it (it then says so).

use std::{collections::BTreeMap, path::PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    xtask::apis::workspace_root()
}

/// The base URLs and keys of the running local stack.
#[derive(Clone, Debug)]
pub struct Stack {
    vars: BTreeMap<String, String>,
}

impl Stack {
    /// Reads the stack's environment; `None` when the tests are asked to
    /// skip the servers, a panic naming the command when the stack is absent.
    pub fn from_env() -> Option<Stack> {
        let vars: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("DATAGOUV_TEST_"))
            .collect();
        if vars.contains_key("DATAGOUV_TEST_UDATA_URL") {
            return Some(Stack { vars });
        }
        if std::env::var_os("DATAGOUV_SKIP_SERVER_TESTS").is_some() {
            eprintln!(
                "skipped: DATAGOUV_SKIP_SERVER_TESTS is set, the real-server tests did not run"
            );
            return None;
        }
        panic!(
            "the local server stack is not running: run the tests with \
             `bash tests/stack/stack.sh run target/stack -- cargo test --workspace` \
             (or set DATAGOUV_SKIP_SERVER_TESTS=1 to skip these tests)"
        );
    }

    /// One variable, without its `DATAGOUV_TEST_` prefix (`UDATA_URL`).
    pub fn get(&self, name: &str) -> &str {
        self.vars
            .get(&format!("DATAGOUV_TEST_{name}"))
            .unwrap_or_else(|| panic!("the stack did not export DATAGOUV_TEST_{name}"))
    }
}

/// What happened to one operation in a walk against a real server.
#[derive(Clone, Debug, Default)]
pub struct OperationRecord {
    /// Answers received with a 2xx status and decoded (or, for raw bodies,
    /// of a declared media type).
    pub proven: usize,
    /// Why the operation could not be proven, when it was not.
    pub not_proven: Vec<String>,
}

/// Renders a coverage table: operation → answers decoded from the real
/// server and from Prism, and why an operation was not proven on the real
/// server.
pub fn coverage_table(
    title: &str,
    real: &BTreeMap<String, OperationRecord>,
    mock: &BTreeMap<String, OperationRecord>,
) -> String {
    let proven = real.values().filter(|r| r.proven > 0).count();
    let mocked = real
        .iter()
        .filter(|(op, r)| r.proven == 0 && mock.get(*op).is_some_and(|m| m.proven > 0))
        .count();
    let mut out = format!(
        "## {title}\n\n{proven}/{} proven against the real server, {mocked} more only against Prism, {} not at all.\n\n",
        real.len(),
        real.len() - proven - mocked
    );
    out.push_str("| operation | real server answers decoded | Prism answers decoded | not proven on the real server because |\n| --- | --- | --- | --- |\n");
    for (operation, record) in real {
        let mut reasons: Vec<&String> = record.not_proven.iter().collect();
        reasons.sort();
        reasons.dedup();
        let why = if record.proven > 0 {
            String::new()
        } else {
            reasons
                .iter()
                .take(2)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        };
        let prism = mock.get(operation).map(|m| m.proven).unwrap_or_default();
        out.push_str(&format!(
            "| {operation} | {} | {prism} | {why} |\n",
            record.proven
        ));
    }
    out
}

/// The `psql` of the stack's PostgreSQL 15 (Debian's path), else the one on
/// `PATH`: the independent reader tests compare answers with.
pub fn psql() -> &'static str {
    let bundled = "/usr/lib/postgresql/15/bin/psql";
    if std::path::Path::new(bundled).exists() {
        bundled
    } else {
        "psql"
    }
}
