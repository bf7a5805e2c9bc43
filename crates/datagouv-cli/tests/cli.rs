//! End-to-end tests of the `datagouv` binary against the local real servers
//! (`tests/stack/stack.sh`: udata, api-tabular, PostgREST, PostgreSQL).
//!
//! Each test runs the binary with the stack's base URLs and no other
//! `DATAGOUV_*` setting, and snapshots what it prints (insta), with the
//! values that change from one stack start to the next — ports, the ids of
//! seeded objects, timestamps — redacted. Fixture objects from udata's own
//! fixtures have stable ids and are preferred.

use assert_cmd::Command;
use std::collections::BTreeMap;

/// The base URLs, keys and fixture ids of the running local stack.
struct Stack {
    vars: BTreeMap<String, String>,
}

impl Stack {
    /// Reads the stack's environment; `None` when the tests are asked to
    /// skip the servers, a panic naming the command when the stack is absent.
    /// (The same logic as `Stack::from_env` of the workspace tests package.)
    fn from_env() -> Option<Stack> {
        let vars: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("DATAGOUV_TEST_"))
            .collect();
        if vars.contains_key("DATAGOUV_TEST_UDATA_BASE_URL") {
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

    /// One variable, without its `DATAGOUV_TEST_` prefix (`RID_TYPES`).
    fn get(&self, name: &str) -> &str {
        self.vars
            .get(&format!("DATAGOUV_TEST_{name}"))
            .unwrap_or_else(|| panic!("the stack did not export DATAGOUV_TEST_{name}"))
    }

    /// The binary, pointed at the stack, with no key, no config file and
    /// no `DATAGOUV_*` setting of the caller's environment.
    fn cli(&self) -> Command {
        let mut command = bare_cli();
        command
            .env("DATAGOUV_MAIN_URL", self.get("UDATA_BASE_URL"))
            .env("DATAGOUV_TABULAR_URL", self.get("TABULAR_URL"))
            .env("DATAGOUV_METRICS_URL", self.get("METRICS_URL"));
        command
    }

    /// The binary as the non-admin user (its key in `DATAGOUV_API_KEY`).
    fn user_cli(&self) -> Command {
        let mut command = self.cli();
        command.env("DATAGOUV_API_KEY", self.get("USER_KEY"));
        command
    }

    /// Runs the binary as the user, asserts success, and reads its JSON output.
    fn user_json(&self, args: &[&str]) -> serde_json::Value {
        let run = Run::of(self.user_cli(), args);
        serde_json::from_str(run.ok()).unwrap_or_else(|e| panic!("{e}: {}", run.render()))
    }

    /// Runs the binary with these arguments and renders what happened.
    fn run(&self, args: &[&str]) -> Run {
        Run::of(self.cli(), args)
    }

    /// Runs the binary and snapshots what it did.
    fn check(&self, name: &str, args: &[&str]) -> Run {
        let run = self.run(args);
        self.snapshot(name, &run);
        run
    }

    /// Snapshots a run, redacting what changes between stack starts.
    fn snapshot(&self, name: &str, run: &Run) {
        let mut settings = insta::Settings::clone_current();
        settings.set_prepend_module_to_snapshot(false);
        let mut volatile: Vec<(&String, &String)> = self
            .vars
            .iter()
            .filter(|(k, v)| {
                (k.ends_with("_ID") || k.ends_with("_URL") || k.ends_with("_KEY")) && v.len() >= 8
            })
            .collect();
        // Longer values first, so that a URL is redacted before its prefix.
        volatile.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        for (key, value) in volatile {
            let name = key.trim_start_matches("DATAGOUV_TEST_");
            settings.add_filter(&regex_escape(value), format!("[{name}]"));
        }
        // Temporary directories (`tempfile`).
        let temporary = std::env::temp_dir().display().to_string();
        settings.add_filter(
            &format!(
                r"{}/?\.tmp[A-Za-z0-9]+",
                regex_escape(temporary.trim_end_matches('/'))
            ),
            "[TMPDIR]",
        );
        settings.add_filter(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
            "[TIME]",
        );
        settings.bind(|| insta::assert_snapshot!(name, sorted_python_sets(&run.render())));
    }
}

/// Snapshots text as it is.
fn snapshot_text(name: &str, text: &str) {
    let text = sorted_python_sets(text);
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// api-tabular prints Python sets (`{'b', 'a'}`) in an order that changes
/// from one server start to the next: snapshots hold them sorted.
fn sorted_python_sets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{'") {
        let Some(len) = rest[start..].find("'}") else {
            break;
        };
        let inner = &rest[start + 1..start + len + 1];
        let mut items: Vec<&str> = inner.split(", ").collect();
        items.sort_unstable();
        out.push_str(&rest[..start]);
        out.push('{');
        out.push_str(&items.join(", "));
        out.push('}');
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The binary with none of the caller's `DATAGOUV_*` settings and no config file.
fn bare_cli() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_datagouv"));
    for (key, _) in std::env::vars() {
        if key.starts_with("DATAGOUV_") && !key.starts_with("DATAGOUV_TEST_") {
            command.env_remove(key);
        }
    }
    command
        .env("XDG_CONFIG_HOME", "/nonexistent/xdg")
        .env("HOME", "/nonexistent/home")
        .env("COLUMNS", "100");
    command
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What one run of the binary did.
struct Run {
    args: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(mut command: Command, args: &[&str]) -> Run {
        let output = command.args(args).output().expect("the binary runs");
        Run {
            args: args.join(" "),
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn render(&self) -> String {
        format!(
            "$ datagouv {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }

    /// Asserts success and returns stdout.
    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "{}", self.render());
        &self.stdout
    }
}

macro_rules! stack {
    () => {
        match Stack::from_env() {
            Some(stack) => stack,
            None => return,
        }
    };
}

#[test]
fn help_describes_every_command() {
    for (name, args) in [
        ("help", &["--help"][..]),
        ("help_tabular_query", &["tabular", "query", "--help"][..]),
        ("help_datasets_list", &["datasets", "list", "--help"][..]),
    ] {
        let run = Run::of(bare_cli(), args);
        run.ok();
        snapshot_text(name, &run.render());
    }
}

/// A help text with its whitespace runs made single spaces, so that texts
/// wrapped at different columns compare.
fn flat_help(args: &[&str]) -> String {
    let run = Run::of(bare_cli(), args);
    run.ok().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_list_takes_the_same_search_and_limit_flags() {
    let limits = "--limit <N> At most this many items [default: 20] \
                  --all Every item, however many (overrides --limit) \
                  --page-size <N> Items per request, 1 to 1000; the Tabular and Metrics APIs serve 1 to 50 rows \
                  [default: --limit, up to 100 items or 50 rows]";
    for family in [
        "datasets",
        "resources",
        "organizations",
        "reuses",
        "dataservices",
        "discussions",
    ] {
        let help = flat_help(&[family, "list", "--help"]);
        assert!(
            help.contains("-q, --query <TEXT> Words to search for"),
            "{family}: {help}"
        );
        assert!(help.contains(limits), "{family}: {help}");
    }
    for query in [&["tabular", "query"], &["metrics", "query"]] {
        let help = flat_help(&[query[0], query[1], "--help"]);
        assert!(help.contains(limits), "{query:?}: {help}");
    }
    // `datasets search` is the same command, listed as an alias.
    assert!(flat_help(&["datasets", "--help"]).contains("[alias: search]"));
    assert_eq!(
        flat_help(&["datasets", "search", "--help"]),
        flat_help(&["datasets", "list", "--help"])
    );
}

#[test]
fn datasets_list_and_show() {
    let stack = stack!();
    // The Base Adresse Nationale organization and dataset come from udata's fixtures.
    stack.check(
        "datasets_list_organization",
        &[
            "datasets",
            "list",
            "--organization",
            "58e555f5c751df205d54e76b",
            "--fields",
            "id,slug,organization.name,tags",
        ],
    );
    stack.check(
        "datasets_list_tags_csv",
        &[
            "datasets", "list", "--tag", "ban", "--tag", "adresses", "--csv",
        ],
    );
    stack.check(
        "datasets_show_table",
        &[
            "datasets",
            "show",
            "base-adresse-nationale",
            "--table",
            "--fields",
            "id,slug,title,organization.name,license,frequency,tags,resources.title",
        ],
    );
    // A seeded dataset: its ids are redacted.
    stack.check(
        "datasets_show_spatial_json",
        &[
            "datasets",
            "show",
            stack.get("SPATIAL_DATASET_ID"),
            "--json",
            "--fields",
            "id,title,owner.id,license,spatial.granularity,spatial.zones,temporal_coverage",
        ],
    );
}

#[test]
fn datasets_search_is_datasets_list() {
    let stack = stack!();
    let same = |old: &[&str], new: &[&str]| {
        let (old, new) = (stack.run(old), stack.run(new));
        assert_eq!(
            (old.code, &old.stdout, &old.stderr),
            (new.code, &new.stdout, &new.stderr),
            "{}\n{}",
            old.render(),
            new.render()
        );
    };
    same(
        &["datasets", "search", "--tag", "ban", "--csv"],
        &["datasets", "list", "--tag", "ban", "--csv"],
    );
    // The old positional query is the same as --query (whatever the local
    // udata, which has no search index, answers to it).
    same(
        &["datasets", "search", "adresse", "--limit", "2"],
        &["datasets", "list", "--query", "adresse", "--limit", "2"],
    );
    same(
        &["datasets", "search", "adresse", "--limit", "2"],
        &["datasets", "list", "-q", "adresse", "--limit", "2"],
    );
    let both = stack.run(&["datasets", "search", "adresse", "--query", "ban"]);
    assert_eq!(both.code, 2, "{}", both.render());
}

#[test]
fn lists_stop_at_the_limit() {
    let stack = stack!();
    for (args, lines) in [
        (
            &["datasets", "list", "--limit", "3", "--fields", "id"][..],
            3,
        ),
        // Five items asked for two at a time.
        (
            &[
                "datasets",
                "list",
                "--limit",
                "5",
                "--page-size",
                "2",
                "--fields",
                "id",
            ][..],
            5,
        ),
        (
            &[
                "discussions",
                "list",
                "--limit",
                "3",
                "--page-size",
                "1",
                "--fields",
                "id",
            ][..],
            3,
        ),
        (
            &["organizations", "list", "--limit", "2", "--fields", "id"][..],
            2,
        ),
        // CSV: a header line, then the rows.
        (
            &["reuses", "list", "--limit", "5", "--csv", "--fields", "id"][..],
            6,
        ),
    ] {
        let run = stack.run(args);
        assert_eq!(run.ok().lines().count(), lines, "{}", run.render());
    }
    let run = stack.run(&["datasets", "list", "--all", "--fields", "id"]);
    assert!(run.ok().lines().count() > 15, "{}", run.render());
    let paged = stack.run(&[
        "datasets",
        "list",
        "--all",
        "--page-size",
        "7",
        "--fields",
        "id",
    ]);
    assert_eq!(paged.ok(), run.stdout, "{}", paged.render());
}

#[test]
fn resources_list_and_show() {
    let stack = stack!();
    stack.check(
        "resources_list_table",
        &[
            "resources",
            "list",
            "demandes-de-valeurs-foncieres",
            "--table",
        ],
    );
    stack.check(
        "resources_list_query",
        &[
            "resources",
            "list",
            "demandes-de-valeurs-foncieres",
            "-q",
            "2023",
            "--fields",
            "title",
        ],
    );
    stack.check(
        "resources_show",
        &[
            "resources",
            "show",
            "base-adresse-nationale",
            "40e010b2-1d37-4180-8dac-f8a34c7737d5",
            "--fields",
            "id,title,format,type,url",
        ],
    );
}

#[test]
fn organizations_reuses_dataservices() {
    let stack = stack!();
    stack.check(
        "organizations_show",
        &[
            "organizations",
            "show",
            "base-adresse-nationale",
            "--table",
            "--fields",
            "id,slug,name",
        ],
    );
    stack.check(
        "reuses_show",
        &[
            "reuses",
            "show",
            "barometre-des-resultats-de-laction-publique",
            "--fields",
            "id,title,type,organization.name,datasets.id",
        ],
    );
    // The command's default fields.
    stack.check(
        "dataservices_show_csv",
        &["dataservices", "show", "api-sirene", "--csv"],
    );
    let run = stack.run(&["dataservices", "list", "--all", "--fields", "slug"]);
    let mut slugs: Vec<&str> = run.ok().lines().collect();
    slugs.sort();
    snapshot_text("dataservices_list_slugs", &slugs.join("\n"));
}

#[test]
fn users_me_and_discussions() {
    let stack = stack!();
    stack.check(
        "users_show",
        &[
            "users",
            "show",
            stack.get("USER_ID"),
            "--fields",
            "id,slug,first_name,last_name",
        ],
    );
    let run = Run::of(
        stack.user_cli(),
        &[
            "me",
            "--json",
            "--fields",
            "id,slug,email,organizations.name",
        ],
    );
    stack.snapshot("me_with_user_key", &run);
    stack.check(
        "discussions_list_for_dataset",
        &[
            "discussions",
            "list",
            "--for",
            "5530fbacc751df5ff937dddb",
            "--all",
            "--fields",
            "id,title,subject.class",
        ],
    );
    stack.check(
        "discussions_show",
        &[
            "discussions",
            "show",
            "660e7c24b50e8385cd601e8d",
            "--fields",
            "title,subject.id,discussion.posted_by.slug",
            "--table",
        ],
    );
}

#[test]
fn tabular_info_profile_query() {
    let stack = stack!();
    let rid = stack.get("RID_TYPES");
    stack.check(
        "tabular_info",
        &["tabular", "info", rid, "--fields", "created_at,url"],
    );
    stack.check(
        "tabular_profile_table",
        &["tabular", "profile", rid, "--table"],
    );
    // `__` inside a column name, `=` and `,` inside values, a list operator.
    stack.check(
        "tabular_query_filters_table",
        &[
            "tabular",
            "query",
            rid,
            "--filter",
            "a__b__less=12",
            "--filter",
            "entier__isnotnull",
            "--filter",
            "élément__in=a&b,x,y,k=v",
            "--sort",
            "entier:desc",
            "--columns",
            "__id,nom complet,élément,entier,a__b",
            "--table",
        ],
    );
    stack.check(
        "tabular_query_value_with_equals_json",
        &[
            "tabular",
            "query",
            rid,
            "--filter",
            "élément__exact=k=v",
            "--json",
        ],
    );
    stack.check(
        "tabular_query_paged_csv",
        &[
            "tabular",
            "query",
            rid,
            "--sort",
            "__id:asc",
            "--limit",
            "7",
            "--page-size",
            "3",
            "--csv",
            "--fields",
            "__id,avg.views,say \"hi\"",
        ],
    );
    stack.check(
        "tabular_query_aggregate_csv",
        &[
            "tabular",
            "query",
            stack.get("RID_INDEXED"),
            "--groupby",
            "categorie",
            "--agg",
            "score:avg",
            "--sort",
            "categorie:asc",
            "--csv",
        ],
    );
}

#[test]
fn tabular_export_writes_the_file() {
    let stack = stack!();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    // No progress bar when stderr is not a terminal.
    stack.check(
        "tabular_export_big",
        &[
            "tabular",
            "export",
            stack.get("RID_BIG"),
            file.to_str().unwrap(),
            "--jsonl",
            "--fields",
            "rows,windows",
        ],
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 200_001);
    assert!(text.starts_with("__id,"), "{}", &text[..80]);

    // `.json`: a JSON array.
    let file = dir.path().join("negative.json");
    let run = stack.run(&[
        "tabular",
        "export",
        stack.get("RID_TYPES"),
        file.to_str().unwrap(),
        "--filter",
        "entier__strictly_less=-40",
        "--columns",
        "__id,entier",
    ]);
    run.ok();
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    snapshot_text(
        "tabular_export_json_file",
        &serde_json::to_string_pretty(&rows).unwrap(),
    );

    // Sorted past the cap, narrowed by an or/and group, one window at a time.
    let file = dir.path().join("sorted.csv");
    stack.check(
        "tabular_export_sorted_group",
        &[
            "tabular",
            "export",
            stack.get("RID_SORTED"),
            file.to_str().unwrap(),
            "--where",
            "or(valeur__exact=1, and(Population (2021)__strictly_less=2500, nom__isnull))",
            "--sort",
            "nom:desc",
            "--columns",
            "nom,valeur",
            "--parallel",
            "1",
            "--jsonl",
            "--fields",
            "rows,windows,windows_requested,resumed_from_window",
        ],
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("nom,valeur\n"), "{}", &text[..40]);
    // The fixture's formulas (tests/stack/tabular/sql/45_sorted.sql).
    let expected = (1..=120_000u64)
        .filter(|i| i % 3 == 1 || (i % 17 != 0 && i % 5000 < 2500 && i % 20 < 9))
        .count();
    assert_eq!(text.lines().count(), expected + 1);

    // `.parquet`: typed from the profile.
    let file = dir.path().join("types.parquet");
    stack.check(
        "tabular_export_parquet",
        &[
            "tabular",
            "export",
            stack.get("RID_TYPES"),
            file.to_str().unwrap(),
            "--jsonl",
            "--fields",
            "rows,windows,unreadable_values",
        ],
    );
    assert!(std::fs::read(&file).unwrap().starts_with(b"PAR1"));
}

#[test]
fn metrics_query_and_export() {
    let stack = stack!();
    stack.check(
        "metrics_query_table",
        &[
            "metrics",
            "query",
            "datasets",
            "--filter",
            "dataset_id__exact=d00000000000000000000003",
            "--filter",
            "metric_month__less=2022-04",
            "--sort",
            "metric_month:asc",
            "--table",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.csv");
    stack.check(
        "metrics_export",
        &[
            "metrics",
            "export",
            "site",
            file.to_str().unwrap(),
            "--filter",
            "metric_month__exact=2022-01",
            "--fields",
            "rows,windows",
        ],
    );
    snapshot_text(
        "metrics_export_file",
        &std::fs::read_to_string(&file).unwrap(),
    );
}

#[test]
fn api_raw_requests() {
    let stack = stack!();
    stack.check(
        "api_get_fields",
        &[
            "api",
            "get",
            "/datasets/base-adresse-nationale/",
            "--fields",
            "id,slug,organization.slug",
        ],
    );
    stack.check(
        "api_get_page_jsonl",
        &[
            "api",
            "get",
            "/datasets/?tag=ban",
            "--jsonl",
            "--fields",
            "slug",
        ],
    );

    // A private dataset of the non-admin user, made and deleted again: it
    // shows in no public list meanwhile.
    let body = r#"{"title": "Jeu créé par datagouv-cli", "description": "Test de la CLI.", "private": true}"#;
    let created = Run::of(
        stack.user_cli(),
        &[
            "api",
            "post",
            "/datasets/",
            "--data",
            body,
            "--fields",
            "id",
        ],
    );
    let id: serde_json::Value = serde_json::from_str(created.ok()).unwrap();
    let id = id["id"].as_str().unwrap().to_owned();
    let mut from_stdin = stack.user_cli();
    from_stdin.write_stdin(r#"{"title": "Jeu renommé par datagouv-cli"}"#);
    let path = format!("/datasets/{id}/");
    let mut renamed = Run::of(
        from_stdin,
        &[
            "api",
            "put",
            &path,
            "--data",
            "@-",
            "--fields",
            "title,private",
        ],
    );
    renamed.args = renamed.args.replace(&id, "[NEW_DATASET_ID]");
    stack.snapshot("api_put_from_stdin", &renamed);
    let deleted = Run::of(stack.user_cli(), &["api", "delete", &path]);
    assert_eq!(deleted.ok(), "", "{}", deleted.render());
    let gone = stack.run(&["api", "get", &path]);
    assert_eq!(gone.code, 3, "{}", gone.render());
}

#[test]
fn exit_codes_and_hints() {
    let stack = stack!();
    let types = stack.get("RID_TYPES");
    let cases: &[(&str, &[&str], i32)] = &[
        (
            "error_unknown_dataset",
            &["datasets", "show", "no-such-dataset"],
            3,
        ),
        (
            "error_unknown_rid",
            &["tabular", "info", stack.get("RID_UNKNOWN")],
            3,
        ),
        (
            "error_deleted_rid",
            &["tabular", "profile", stack.get("RID_DELETED")],
            3,
        ),
        ("error_me_without_key", &["me"], 4),
        (
            "error_bad_filter",
            &["tabular", "query", types, "--filter", "nope"],
            2,
        ),
        (
            "error_bad_operator",
            &["metrics", "query", "site", "--filter", "visit__between=1"],
            2,
        ),
        (
            "error_page_size_zero",
            &["tabular", "query", types, "--page-size", "0"],
            2,
        ),
        // The flag takes up to 1000; the Tabular API serves up to 50 rows.
        (
            "error_rows_page_size_too_large",
            &["tabular", "query", types, "--page-size", "51"],
            2,
        ),
        ("error_bad_uuid", &["tabular", "query", "not-a-uuid"], 2),
        (
            "error_bad_json_body",
            &["api", "post", "/datasets/", "--data", "{title"],
            2,
        ),
        (
            "error_unknown_column",
            &["tabular", "query", types, "--filter", "nope__exact=1"],
            2,
        ),
        (
            "error_two_formats",
            &["tabular", "query", types, "--json", "--csv"],
            2,
        ),
        (
            "error_bad_group",
            &["tabular", "query", types, "--where", "or(entier__exact=1"],
            2,
        ),
        (
            "error_group_value_with_comma",
            &["tabular", "query", types, "--where", "or(nom__exact=a,b)"],
            2,
        ),
        (
            "error_parallel_out_of_range",
            &["tabular", "export", types, "out.csv", "--parallel", "5"],
            2,
        ),
    ];
    for (name, args, code) in cases {
        let run = stack.check(name, args);
        assert_eq!(run.code, *code, "{}", run.render());
        assert!(run.stderr.starts_with("error: "), "{}", run.render());
    }
    // A non-admin key on an admin endpoint: the key's user may not.
    let run = Run::of(stack.user_cli(), &["api", "get", "/workers/jobs/"]);
    assert_eq!(run.code, 4, "{}", run.render());
    assert!(run.stderr.contains("auth status"), "{}", run.render());
    stack.snapshot("error_user_key_on_admin_endpoint", &run);

    // A 403 of the Tabular API refusing an aggregation says why, not "the key".
    let (indexed, not_aggregated) = (stack.get("RID_INDEXED"), stack.get("RID_NOT_AGGREGATED"));
    for (name, args, says) in [
        (
            "error_aggregation_resource_not_listed",
            &[
                "tabular",
                "query",
                not_aggregated,
                "--groupby",
                "categorie",
                "--agg",
                "score:avg",
            ][..],
            "does not aggregate this resource",
        ),
        (
            "error_aggregation_column_not_indexed",
            &["tabular", "query", indexed, "--groupby", "region"][..],
            "column is not indexed",
        ),
    ] {
        // With a key set: still not the key's fault.
        let run = Run::of(stack.user_cli(), args);
        stack.snapshot(name, &run);
        assert_eq!(run.code, 4, "{}", run.render());
        assert!(run.stderr.contains(says), "{}", run.render());
        assert!(!run.stderr.contains("auth status"), "{}", run.render());
    }
}

#[test]
fn auth_status_says_where_each_value_comes_from_never_the_key() {
    let stack = stack!();
    let key = stack.get("USER_KEY");
    let run = Run::of(
        stack.user_cli(),
        &[
            "auth",
            "status",
            "--offline",
            "--tabular-url",
            "http://localhost:9/",
            "--env",
            "demo",
            "--csv",
        ],
    );
    assert!(!run.stdout.contains(key) && !run.stderr.contains(key));
    stack.snapshot("auth_status_env_and_flags", &run);

    let run = Run::of(
        bare_cli(),
        &["auth", "status", "--offline", "--api-key", key, "--csv"],
    );
    assert!(!run.stdout.contains(key) && !run.stderr.contains(key));
    stack.snapshot("auth_status_defaults_and_key_flag", &run);
}

#[cfg(unix)]
#[test]
fn config_init_writes_an_owner_only_file() {
    use std::os::unix::fs::PermissionsExt;
    let stack = stack!();
    let home = tempfile::tempdir().unwrap();
    let key = stack.get("USER_KEY");
    let with_home = || {
        let mut cli = bare_cli();
        cli.env("XDG_CONFIG_HOME", home.path());
        cli
    };
    let run = Run::of(
        with_home(),
        &[
            "config",
            "init",
            "--api-key",
            key,
            "--main-url",
            stack.get("UDATA_BASE_URL"),
            "--tabular-url",
            stack.get("TABULAR_URL"),
        ],
    );
    run.ok();
    let path = home.path().join("datagouv").join("config.toml");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "the config file must be owner-only");
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert!(!run.stdout.contains(key) && !run.stderr.contains(key));

    // The file is used: the key reaches the server, the status says where from.
    let me = Run::of(with_home(), &["me", "--fields", "slug"]);
    assert_eq!(me.ok(), "{\"slug\":\"stack-user\"}\n");
    let mut status = Run::of(with_home(), &["auth", "status", "--offline", "--csv"]);
    assert!(!status.stdout.contains(key));
    status.stdout = status
        .stdout
        .replace(&path.display().to_string(), "[CONFIG_FILE]");
    stack.snapshot("auth_status_config_file", &status);

    // A variable wins over the file, a flag over both.
    let mut cli = with_home();
    cli.env("DATAGOUV_MAIN_URL", "http://localhost:8/");
    let run = Run::of(
        cli,
        &[
            "auth",
            "status",
            "--offline",
            "--csv",
            "--tabular-url",
            "http://localhost:9/",
        ],
    );
    let out = run.ok();
    assert!(
        out.contains("main_url,http://localhost:8/,variable DATAGOUV_MAIN_URL"),
        "{out}"
    );
    assert!(
        out.contains("tabular_url,http://localhost:9/,flag --tabular-url"),
        "{out}"
    );
    assert!(out.contains("api_key,set,config file"), "{out}");

    // Not replaced without --force.
    let again = Run::of(with_home(), &["config", "init", "--env", "demo"]);
    assert_eq!(again.code, 2, "{}", again.render());
    assert!(again.stderr.contains("--force"), "{}", again.render());
    let forced = Run::of(with_home(), &["config", "init", "--env", "demo", "--force"]);
    forced.ok();
    assert_eq!(mode(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("env = \"demo\"") && text.contains("api_key"),
        "{text}"
    );

    // A file others can read is used, with a warning.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let warned = Run::of(with_home(), &["auth", "status"]);
    assert!(warned.stderr.contains("chmod 600"), "{}", warned.render());
}

#[test]
fn output_formats_of_one_query() {
    let stack = stack!();
    let rid = stack.get("RID_TYPES");
    let base = [
        "tabular",
        "query",
        rid,
        "--filter",
        "entier__exact=24",
        "--columns",
        "__id,nom complet,données",
    ];
    for (name, format) in [
        ("format_default_piped", None),
        ("format_json", Some("--json")),
        ("format_jsonl", Some("--jsonl")),
        ("format_csv", Some("--csv")),
        ("format_table", Some("--table")),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(format);
        stack.check(name, &args).ok();
    }
}

#[test]
fn datasets_create_update_delete_and_resource_files() {
    let stack = stack!();
    let org = stack.get("USER_ORG_ID");
    let dir = tempfile::tempdir().unwrap();
    let run_json = |args: &[&str]| stack.user_json(args);

    let created = run_json(&[
        "datasets",
        "create",
        "Jeu de la CLI",
        "--description",
        "Créé par la CLI.",
        "--organization",
        org,
        "--tag",
        "cli-test",
        "--license",
        "lov2",
        "--json",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["private"], true, "a draft is private");

    let source = dir.path().join("donnees.csv");
    let content: String = (0..5000).map(|i| format!("{i};valeur {i}\n")).collect();
    std::fs::write(&source, &content).unwrap();
    let source_text = source.display().to_string();
    let uploaded = run_json(&[
        "resources",
        "upload",
        &id,
        &source_text,
        "--chunk-size",
        "65536",
        "--json",
    ]);
    let rid = uploaded["id"].as_str().unwrap().to_owned();
    assert_eq!(uploaded["filesize"], content.len() as u64);

    let target = dir.path().join("copie.csv");
    let target_text = target.display().to_string();
    let downloaded = run_json(&["resources", "download", &rid, &target_text, "--json"]);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), content);
    assert!(
        downloaded["verified"]
            .as_str()
            .unwrap()
            .starts_with("Sha1 "),
        "{downloaded}"
    );

    let updated = run_json(&[
        "datasets",
        "update",
        &id,
        "--set",
        "private=false",
        "--set",
        "description=Publié.",
        "--json",
    ]);
    assert_eq!(
        (updated["private"].clone(), updated["description"].clone()),
        (false.into(), "Publié.".into())
    );

    let bad = stack.run(&["datasets", "update", &id, "--set", "nothing"]);
    assert_eq!(bad.code, 2, "{}", bad.render());
    let anonymous = stack.run(&["datasets", "delete", &id]);
    assert_eq!(
        anonymous.code,
        2,
        "a write without a key is refused before sending: {}",
        anonymous.render()
    );
    assert!(
        anonymous.render().contains("DATAGOUV_API_KEY"),
        "{}",
        anonymous.render()
    );

    let deleted = Run::of(stack.user_cli(), &["datasets", "delete", &id, "--json"]);
    assert_eq!(deleted.code, 0, "{}", deleted.render());
    let gone = stack.run(&["datasets", "show", &id]);
    assert_eq!(gone.code, 3, "{}", gone.render());
}

#[test]
fn sync_without_anything_to_mirror_is_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mirror");
    let run = Run::of(bare_cli(), &["sync", target.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.render());
    assert!(run.stderr.contains("nothing to mirror"), "{}", run.render());
    assert!(!target.exists(), "nothing was created");
}

#[test]
fn sync_reports_a_missing_file_with_a_failing_exit_code_and_completes_the_others() {
    let stack = stack!();
    let dir = tempfile::tempdir().unwrap();
    let run_json = |args: &[&str]| stack.user_json(args);
    let created = run_json(&[
        "datasets",
        "create",
        "Miroir de la CLI",
        "--description",
        "Créé par les tests de datagouv sync.",
        "--organization",
        stack.get("USER_ORG_ID"),
        "--json",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    let source = dir.path().join("present.csv");
    std::fs::write(&source, "a;b\n1;2\n").unwrap();
    run_json(&[
        "resources",
        "upload",
        &id,
        source.to_str().unwrap(),
        "--json",
    ]);
    // A remote resource on the local udata at a path it does not serve.
    let missing = serde_json::json!({
        "title": "absent", "url": format!("{}/no-such-file.csv", stack.get("UDATA_BASE_URL")),
        "filetype": "remote", "type": "main", "format": "csv",
    });
    run_json(&[
        "api",
        "post",
        &format!("/datasets/{id}/resources/"),
        "--data",
        &missing.to_string(),
    ]);

    let mirror = dir.path().join("miroir");
    let run = Run::of(stack.user_cli(), &["sync", &id, mirror.to_str().unwrap()]);
    assert_eq!(
        run.code,
        1,
        "a failed file fails the command: {}",
        run.render()
    );
    assert!(
        run.stdout.contains("new 1,") && run.stdout.contains("failed 1"),
        "{}",
        run.render()
    );
    assert!(
        run.stderr.contains("no-such-file.csv: FAILED"),
        "{}",
        run.render()
    );
    let slug = created["slug"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(mirror.join(slug).join("present.csv")).unwrap(),
        "a;b\n1;2\n"
    );
    assert!(mirror.join(".datagouv-sync.json").exists());

    Run::of(stack.user_cli(), &["datasets", "delete", &id]).ok();
}

impl Stack {
    /// The binary as the sysadmin user (its key in `DATAGOUV_API_KEY`).
    fn admin_cli(&self) -> Command {
        let mut command = self.cli();
        command.env("DATAGOUV_API_KEY", self.get("ADMIN_KEY"));
        command
    }

    /// A new private dataset of the non-admin user, created through the
    /// CLI; its id.
    fn user_dataset(&self, title: &str, description: &str) -> String {
        let created = self.user_json(&[
            "datasets",
            "create",
            title,
            "--description",
            description,
            "--json",
        ]);
        created["id"].as_str().unwrap().to_owned()
    }
}

#[test]
fn datasets_update_takes_only_the_fields_of_a_dataset_each_by_its_type() {
    let stack = stack!();
    let id = stack.user_dataset("Mises à jour de la CLI", "Pour --set.");
    let update = |sets: &[&str]| {
        let mut args = vec!["datasets", "update", id.as_str(), "--json"];
        for set in sets {
            args.extend(["--set", set]);
        }
        Run::of(stack.user_cli(), &args)
    };
    let shown = || stack.user_json(&["datasets", "show", &id, "--json"]);

    // Names the server would ignore are refused, naming the valid fields.
    for (set, says) in [
        ("nonexistent=1", "not a field of a dataset"),
        ("id=x", "set by the server"),
        ("slug=autre", "set by the server"),
    ] {
        let run = update(&[set, "description=Jamais."]);
        assert_eq!(run.code, 2, "{}", run.render());
        assert!(run.stderr.contains(says), "{}", run.render());
        assert!(
            run.stderr.contains("title") && run.stderr.contains("acronym"),
            "{}",
            run.render()
        );
    }
    // A value that fits neither as JSON nor as text: refused before sending.
    let run = update(&["private=yes", "description=Jamais."]);
    assert_eq!(run.code, 2, "{}", run.render());
    assert!(run.stderr.contains("private"), "{}", run.render());
    assert_eq!(shown()["description"], "Pour --set.", "nothing was changed");

    // Text fields take digits as text; JSON values keep their type.
    let updated = serde_json::from_str::<serde_json::Value>(
        update(&["title=2024", "acronym=ACR", "private=true"]).ok(),
    )
    .unwrap();
    assert_eq!(
        (&updated["title"], &updated["acronym"], &updated["private"]),
        (&"2024".into(), &"ACR".into(), &true.into())
    );
    // `null` clears a field…
    let cleared =
        serde_json::from_str::<serde_json::Value>(update(&["acronym=null"]).ok()).unwrap();
    assert_eq!(cleared["acronym"], serde_json::Value::Null, "{cleared}");
    assert_eq!(shown()["acronym"], serde_json::Value::Null);
    // …and the server refuses it, saying why, for a required one.
    let run = update(&["title=null"]);
    assert_eq!(run.code, 2, "{}", run.render());
    assert!(run.stderr.contains("title"), "{}", run.render());
    assert_eq!(shown()["title"], "2024");

    Run::of(stack.user_cli(), &["datasets", "delete", &id]).ok();
}

#[test]
fn unknown_fields_are_refused_before_any_request() {
    let stack = stack!();
    let dataset = stack.get("SPATIAL_DATASET_ID");
    for args in [
        &["datasets", "list", "--fields", "id,nope"][..],
        &[
            "datasets",
            "show",
            dataset,
            "--fields",
            "title,tilte",
            "--json",
        ],
        &["organizations", "list", "--fields", "slug,title"],
        &["resources", "list", dataset, "--fields", "id,size"],
        &["me", "--fields", "mail"],
    ] {
        let mut cli = stack.user_cli();
        // Nothing listens there: only a check before any request answers 2.
        cli.env("DATAGOUV_MAIN_URL", "http://127.0.0.1:9");
        let run = Run::of(cli, args);
        assert_eq!(run.code, 2, "{}", run.render());
        assert!(
            run.stderr.contains("--fields names") && run.stderr.contains("the fields are: "),
            "{}",
            run.render()
        );
    }
    // Known fields and dotted paths below them still work.
    let run = stack.run(&[
        "datasets",
        "show",
        dataset,
        "--fields",
        "id,owner.slug,spatial.zones",
        "--csv",
    ]);
    assert!(
        run.ok().starts_with("id,owner.slug,spatial.zones\n"),
        "{}",
        run.render()
    );
}

#[test]
fn an_explicit_config_file_must_exist_and_parse() {
    let stack = stack!();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let missing_text = missing.display().to_string();
    let by_flag = Run::of(stack.cli(), &["--config", &missing_text, "auth", "status"]);
    let mut cli = stack.cli();
    cli.env("DATAGOUV_CONFIG", &missing);
    let by_variable = Run::of(cli, &["datasets", "list", "--limit", "1"]);
    for (run, named_by) in [
        (by_flag, "flag --config"),
        (by_variable, "variable DATAGOUV_CONFIG"),
    ] {
        assert_eq!(run.code, 2, "{}", run.render());
        assert!(
            run.stderr.contains(&missing_text) && run.stderr.contains(named_by),
            "{}",
            run.render()
        );
        assert!(run.stdout.is_empty(), "{}", run.render());
    }
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "api_key = \n").unwrap();
    let run = Run::of(
        stack.cli(),
        &["--config", broken.to_str().unwrap(), "auth", "status"],
    );
    assert_eq!(run.code, 2, "{}", run.render());
    assert!(
        run.stderr.contains(broken.to_str().unwrap()),
        "{}",
        run.render()
    );

    // `config init` writes the file it names; the default file may be absent.
    let run = Run::of(
        stack.cli(),
        &["--config", &missing_text, "config", "init", "--env", "demo"],
    );
    run.ok();
    assert!(missing.exists());
    stack.run(&["auth", "status"]).ok();
}

#[test]
fn refusals_say_whether_the_key_is_missing_refused_or_not_enough() {
    let stack = stack!();
    let id = stack.user_dataset("Refus de la CLI", "Pour les refus.");
    let says_how_to_set_a_key = |run: &Run| {
        let text = run.render();
        assert!(!text.contains("ClientBuilder"), "{text}");
        for needed in ["--api-key", "DATAGOUV_API_KEY", "datagouv config init"] {
            assert!(text.contains(needed), "{text}");
        }
    };
    // No key: a write is refused before sending, in the CLI's words.
    let run = stack.run(&["datasets", "update", &id, "--set", "acronym=X"]);
    assert_eq!(run.code, 2, "{}", run.render());
    says_how_to_set_a_key(&run);
    let run = stack.run(&["me"]);
    assert_eq!(run.code, 4, "{}", run.render());
    says_how_to_set_a_key(&run);

    // A key the server does not know: said so, not "set a key".
    let run = stack.run(&["me", "--api-key", "not-a-real-key"]);
    assert_eq!(run.code, 4, "{}", run.render());
    assert!(
        run.stderr.contains("refused the API key"),
        "{}",
        run.render()
    );
    assert!(!run.stderr.contains("set an API key"), "{}", run.render());

    // A known key whose user may not: said so.
    let run = Run::of(
        stack.admin_cli(),
        &[
            "datasets",
            "create",
            "De l'admin",
            "--description",
            "x",
            "--json",
        ],
    );
    let admins: serde_json::Value = serde_json::from_str(run.ok()).unwrap();
    let admins = admins["id"].as_str().unwrap();
    // Public: the user may read it, not change it.
    Run::of(
        stack.admin_cli(),
        &["datasets", "update", admins, "--set", "private=false"],
    )
    .ok();
    let run = Run::of(
        stack.user_cli(),
        &["datasets", "update", admins, "--set", "acronym=X"],
    );
    assert_eq!(run.code, 4, "{}", run.render());
    assert!(
        run.stderr.contains("its user may not do this"),
        "{}",
        run.render()
    );
    assert!(!run.stderr.contains("set an API key"), "{}", run.render());

    Run::of(stack.admin_cli(), &["datasets", "delete", admins]).ok();
    Run::of(stack.user_cli(), &["datasets", "delete", &id]).ok();
}

#[test]
fn not_found_hints_name_the_command_that_finds_that_kind_of_object() {
    let stack = stack!();
    for (args, finds) in [
        (
            &["datasets", "show", "no-such-dataset"][..],
            "datagouv datasets list -q",
        ),
        (
            &["organizations", "show", "no-such-org"],
            "datagouv organizations list -q",
        ),
        (
            &["reuses", "show", "no-such-reuse"],
            "datagouv reuses list -q",
        ),
        (
            &["dataservices", "show", "no-such-api"],
            "datagouv dataservices list -q",
        ),
        (&["users", "show", "no-such-user"], "datagouv me"),
        (
            &[
                "resources",
                "show",
                stack.get("SPATIAL_DATASET_ID"),
                "no-such-rid",
            ],
            "datagouv resources list",
        ),
    ] {
        let run = stack.run(args);
        assert_eq!(run.code, 3, "{}", run.render());
        let hint = run
            .stderr
            .lines()
            .find(|l| l.starts_with("hint: "))
            .unwrap_or_default();
        assert!(hint.contains(finds), "{}", run.render());
        if !finds.contains("datasets") {
            assert!(!hint.contains("datasets list"), "{}", run.render());
        }
    }
}

#[test]
fn a_gone_resource_says_where_to_look_whole() {
    let stack = stack!();
    let run = stack.run(&["tabular", "profile", stack.get("RID_DELETED")]);
    assert_eq!(run.code, 3, "{}", run.render());
    assert!(
        run.stderr
            .contains("https://www.data.gouv.fr/datasets/d00000000000000000000003"),
        "{}",
        run.render()
    );
}

#[test]
fn datasets_list_takes_an_organization_slug() {
    let stack = stack!();
    let org = stack.get("USER_ORG_ID");
    let slug = stack.user_json(&["organizations", "show", org, "--json"])["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = stack.run(&[
        "datasets",
        "list",
        "--organization",
        &slug,
        "--fields",
        "organization.id",
        "--jsonl",
    ]);
    let lines: Vec<&str> = run.ok().lines().collect();
    assert!(!lines.is_empty(), "{}", run.render());
    for line in lines {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["organization.id"], org, "{}", run.render());
    }
    // `datasets create` takes the slug too.
    let created = stack.user_json(&[
        "datasets",
        "create",
        "Jeu d'une organisation nommée",
        "--description",
        "x",
        "--organization",
        &slug,
        "--json",
    ]);
    assert_eq!(created["organization"]["id"], org, "{created}");
    let id = created["id"].as_str().unwrap();
    Run::of(stack.user_cli(), &["datasets", "delete", id]).ok();

    let run = stack.run(&["datasets", "list", "--organization", "no-such-organization"]);
    assert_eq!(run.code, 3, "{}", run.render());
    assert!(
        run.stderr
            .contains("no organization `no-such-organization`")
            && run.stderr.contains("organizations list"),
        "{}",
        run.render()
    );
}

#[test]
fn local_file_failures_exit_1_naming_the_path() {
    let stack = stack!();
    let dataset = stack.get("SPATIAL_DATASET_ID");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-folder").join("file.csv");
    let folder = dir.path().to_path_buf();
    for path in [missing, folder] {
        let path = path.display().to_string();
        let run = Run::of(stack.user_cli(), &["resources", "upload", dataset, &path]);
        assert_eq!(run.code, 1, "{}", run.render());
        assert!(run.stderr.contains(&path), "{}", run.render());
    }
}

#[test]
fn catalog_text_reaches_the_terminal_without_control_characters() {
    let stack = stack!();
    let title = "Titre \u{1b}[2J effacé \u{7} sonné \u{202e} inversé \u{9b}31m";
    let description = "Ligne 1\nLigne 2 \u{1b}]0;titre de fenêtre\u{7} \u{2066}fin";
    let id = stack.user_dataset(title, description);
    let controls = ['\u{1b}', '\u{7}', '\u{202e}', '\u{2066}', '\u{9b}'];
    for format in ["--table", "--csv"] {
        let mut cli = stack.user_cli();
        // A terminal's width: the table is laid out as on one.
        cli.env("COLUMNS", "200");
        let run = Run::of(
            cli,
            &[
                "datasets",
                "show",
                &id,
                "--fields",
                "title,description",
                format,
            ],
        );
        let out = run.ok();
        if format == "--table" {
            assert!(!out.contains(controls), "{}", out.escape_debug());
            assert!(out.contains("\\u{1b}[2J effacé"), "{out}");
            assert!(out.contains("Ligne 1") && out.contains("Ligne 2"), "{out}");
        } else {
            // Piped CSV is data: the exact text.
            assert!(out.contains(title), "{}", out.escape_debug());
        }
    }
    let run = Run::of(
        stack.user_cli(),
        &[
            "datasets", "list", "--fields", "id,title", "--table", "--limit", "100",
        ],
    );
    assert!(
        !run.ok().contains(controls),
        "{}",
        run.stdout.escape_debug()
    );
    // JSON keeps the exact values, with every control character escaped.
    for format in ["--json", "--jsonl"] {
        let run = Run::of(
            stack.user_cli(),
            &[
                "datasets",
                "show",
                &id,
                "--fields",
                "title,description",
                format,
            ],
        );
        let out = run.ok();
        assert!(!out.contains(controls), "{}", out.escape_debug());
        let value: serde_json::Value = serde_json::from_str(out).unwrap();
        assert_eq!(
            (value["title"].as_str(), value["description"].as_str()),
            (Some(title), Some(description))
        );
    }
    Run::of(stack.user_cli(), &["datasets", "delete", &id]).ok();
}

#[test]
fn datasets_update_keeps_the_fields_it_does_not_name() {
    let stack = stack!();
    let created = stack.user_json(&[
        "datasets",
        "create",
        "Champs gardés",
        "--description",
        "Avant.",
        "--tag",
        "garde-un",
        "--tag",
        "garde-deux",
        "--license",
        "lov2",
        "--json",
    ]);
    let id = created["id"].as_str().unwrap();
    let coverage = r#"temporal_coverage={"start":"2020-01-01","end":"2021-12-31"}"#;
    stack.user_json(&["datasets", "update", id, "--set", coverage, "--json"]);
    let before = stack.user_json(&["datasets", "show", id, "--json"]);
    assert_eq!(
        before["temporal_coverage"]["start"], "2020-01-01",
        "{before}"
    );
    assert_eq!(before["tags"].as_array().map(Vec::len), Some(2), "{before}");

    // udata empties the tags and the coverage of an update that omits them.
    let after = stack.user_json(&[
        "datasets",
        "update",
        id,
        "--set",
        "description=Après.",
        "--json",
    ]);
    assert_eq!(after["description"], "Après.");
    let shown = stack.user_json(&["datasets", "show", id, "--json"]);
    for field in ["tags", "temporal_coverage", "license", "title", "private"] {
        assert_eq!(shown[field], before[field], "{field} changed: {shown}");
    }
    // Naming them still changes them.
    let emptied = stack.user_json(&["datasets", "update", id, "--set", "tags=[]", "--json"]);
    assert_eq!(emptied["tags"], serde_json::json!([]));
    Run::of(stack.user_cli(), &["datasets", "delete", id]).ok();
}

/// A file host on a thread: one file (ETag `"v1"`, `Range`/`If-Range`
/// honoured), its first answer cut after `cut` body bytes; it records the
/// request heads and counts the body bytes it sends. Also a recording
/// server: any request to it is counted.
struct Host {
    url: String,
    state: std::sync::Arc<std::sync::Mutex<HostState>>,
}

/// The request heads, the body bytes sent, the cut still to make.
type HostState = (Vec<String>, u64, Option<usize>);

impl Host {
    fn start(body: Vec<u8>, cut: Option<usize>) -> Host {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), 0, cut)));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut head = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let lower = head.to_ascii_lowercase();
                let start = lower
                    .lines()
                    .find_map(|l| l.strip_prefix("range: bytes="))
                    .and_then(|r| r.trim().trim_end_matches('-').parse::<usize>().ok())
                    .filter(|_| lower.contains("if-range: \"v1\""))
                    .filter(|s| *s < body.len());
                let mut state = shared.lock().unwrap();
                state.0.push(head);
                let (status, from) = match start {
                    Some(s) => ("206 Partial Content", s),
                    None => ("200 OK", 0),
                };
                let mut answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\netag: \"v1\"\r\naccept-ranges: bytes\r\nconnection: close\r\n",
                    body.len() - from
                );
                if from > 0 {
                    answer.push_str(&format!(
                        "content-range: bytes {from}-{}/{}\r\n",
                        body.len() - 1,
                        body.len()
                    ));
                }
                answer.push_str("\r\n");
                let mut part = &body[from..];
                if let Some(cut) = state.2.take() {
                    part = &part[..cut.min(part.len())];
                }
                state.1 += part.len() as u64;
                drop(state);
                let _ = stream.write_all(answer.as_bytes());
                let _ = stream.write_all(part);
                let _ = stream.flush();
            }
        });
        Host { url, state }
    }

    fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().0.clone()
    }

    fn sent(&self) -> u64 {
        self.state.lock().unwrap().1
    }
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_interrupted_resource_download_is_continued_with_range_and_leaves_only_the_file() {
    let stack = stack!();
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let host = Host::start(body.clone(), Some(80_000));
    let created = stack.user_json(&[
        "datasets",
        "create",
        "Téléchargement repris",
        "--description",
        "Créé par les tests de resources download.",
        "--organization",
        stack.get("USER_ORG_ID"),
        "--json",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    let remote = serde_json::json!({
        "title": "distant", "url": format!("{}/donnees.csv", host.url),
        "filetype": "remote", "type": "main", "format": "csv",
    });
    let resource = stack.user_json(&[
        "api",
        "post",
        &format!("/datasets/{id}/resources/"),
        "--data",
        &remote.to_string(),
    ]);
    let rid = resource["id"].as_str().unwrap().to_owned();
    let target = dir.path().join("copie.csv");
    let target_text = target.display().to_string();

    // The host cuts the first answer: an error, what arrived is kept.
    let cut = Run::of(
        stack.user_cli(),
        &["resources", "download", &rid, &target_text],
    );
    assert_eq!(cut.code, 1, "{}", cut.render());
    assert!(
        cut.stderr.contains("run the same command again"),
        "{}",
        cut.render()
    );
    assert!(!target.exists());

    // The same command continues it with Range: only the rest moves.
    let resumed = Run::of(
        stack.user_cli(),
        &["resources", "download", &rid, &target_text, "--json"],
    );
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    assert_eq!(std::fs::read(&target).unwrap(), body);
    assert_eq!(host.sent(), body.len() as u64, "no byte was sent twice");
    assert!(
        host.requests()
            .last()
            .unwrap()
            .to_ascii_lowercase()
            .contains("range: bytes=80000-"),
        "{:?}",
        host.requests()
    );
    assert_eq!(
        names(dir.path()),
        ["copie.csv"],
        "nothing but the file is left"
    );

    // A folder: the file keeps its own name inside it; `-` is stdout.
    let folder = dir.path().join("dossier");
    std::fs::create_dir(&folder).unwrap();
    let into = Run::of(
        stack.user_cli(),
        &[
            "resources",
            "download",
            &rid,
            folder.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(into.code, 0, "{}", into.render());
    assert_eq!(std::fs::read(folder.join("donnees.csv")).unwrap(), body);
    assert_eq!(names(&folder), ["donnees.csv"]);
    let piped = stack
        .user_cli()
        .args(["resources", "download", &rid, "-"])
        .output()
        .unwrap();
    assert!(piped.status.success(), "{piped:?}");
    assert_eq!(piped.stdout, body);
    assert!(!dir.path().join("-").exists());

    Run::of(stack.user_cli(), &["datasets", "delete", &id]).ok();
}

#[test]
fn download_and_export_destinations_are_checked_before_any_request() {
    let recorder = Host::start(Vec::new(), None);
    let dir = tempfile::tempdir().unwrap();
    let rid = "2d4f1a4e-4c9b-4a7e-9c1e-0f0f0f0f0f0f";
    let cli = || {
        let mut command = bare_cli();
        command
            .env("DATAGOUV_MAIN_URL", &recorder.url)
            .env("DATAGOUV_TABULAR_URL", &recorder.url);
        command
    };
    let missing = format!("{}/", dir.path().join("absent").display());
    let download = Run::of(cli(), &["resources", "download", rid, &missing]);
    assert_eq!(download.code, 1, "{}", download.render());
    assert!(
        download.stderr.contains("does not exist"),
        "{}",
        download.render()
    );
    let export = Run::of(
        cli(),
        &["tabular", "export", rid, dir.path().to_str().unwrap()],
    );
    assert_eq!(export.code, 1, "{}", export.render());
    assert!(export.stderr.contains("folder"), "{}", export.render());
    assert!(!export.stderr.contains("resume"), "{}", export.render());
    assert!(recorder.requests().is_empty(), "{:?}", recorder.requests());
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn sync_output_counts_and_unknown_targets() {
    let stack = stack!();
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("miroir");
    let mirror_text = mirror.display().to_string();

    // An unknown dataset: not found (exit 3), nothing created.
    let unknown = Run::of(stack.user_cli(), &["sync", "nope", &mirror_text]);
    assert_eq!(unknown.code, 3, "{}", unknown.render());
    assert!(unknown.stderr.contains("404"), "{}", unknown.render());
    assert!(!mirror.exists());
    let unknown_org = Run::of(
        stack.user_cli(),
        &["sync", "--organization", "nope", &mirror_text],
    );
    assert_eq!(unknown_org.code, 3, "{}", unknown_org.render());

    let created = stack.user_json(&[
        "datasets",
        "create",
        "Miroir JSON",
        "--description",
        "Créé par les tests de datagouv sync.",
        "--organization",
        stack.get("USER_ORG_ID"),
        "--json",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    let source = dir.path().join("present.csv");
    std::fs::write(&source, "a;b\n1;2\n").unwrap();
    stack.user_json(&[
        "resources",
        "upload",
        &id,
        source.to_str().unwrap(),
        "--json",
    ]);

    // A dry run counts what it would do.
    let dry = Run::of(stack.user_cli(), &["sync", &id, &mirror_text, "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.render());
    assert!(dry.stdout.contains("new 1,"), "{}", dry.render());
    assert!(!mirror.exists());

    // --json: one document, the summary and each file.
    let json = Run::of(stack.user_cli(), &["sync", &id, &mirror_text, "--json"]);
    let document: serde_json::Value =
        serde_json::from_str(json.ok()).unwrap_or_else(|e| panic!("{e}: {}", json.render()));
    assert_eq!(document["new"], 1, "{document}");
    assert_eq!(document["files"][0]["event"], "new", "{document}");
    // --jsonl: one object per event, the summary last.
    let lines = Run::of(stack.user_cli(), &["sync", &id, &mirror_text, "--jsonl"]);
    let events: Vec<serde_json::Value> = lines
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.last().unwrap()["event"], "finished", "{events:?}");
    assert_eq!(events.last().unwrap()["unchanged"], 1, "{events:?}");

    Run::of(stack.user_cli(), &["datasets", "delete", &id]).ok();
}

/// Reads CSV text: header and records.
fn csv_records(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let records = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, records)
}

/// One resource, one set of values, whatever the path: `tabular export` to
/// CSV, `tabular query --all --csv` and `tabular export` to JSON agree cell
/// for cell on the `types` fixture (booleans, timestamps, backslashes,
/// NULLs, a header name with quotes).
#[test]
fn every_path_gives_the_same_values() {
    let stack = stack!();
    let types = stack.get("RID_TYPES");
    let dir = tempfile::tempdir().unwrap();
    let (csv_file, json_file) = (dir.path().join("e.csv"), dir.path().join("e.json"));
    for file in [&csv_file, &json_file] {
        stack
            .run(&["tabular", "export", types, file.to_str().unwrap()])
            .ok();
    }
    let exported = std::fs::read_to_string(&csv_file).unwrap();
    let queried = stack.run(&["tabular", "query", types, "--all", "--csv"]);
    let (header, records) = csv_records(&exported);
    let (query_header, query_records) = csv_records(queried.ok());
    let json: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    assert_eq!(header, query_header);
    // (Key order aside: this crate's serde_json may not keep it.)
    let mut names = header.clone();
    names.sort();
    let mut keys: Vec<String> = json[0].keys().cloned().collect();
    keys.sort();
    assert_eq!(names, keys);
    assert_eq!(
        (records.len(), query_records.len(), json.len()),
        (30, 30, 30)
    );
    for ((record, queried), row) in records.iter().zip(&query_records).zip(&json) {
        for (index, name) in header.iter().enumerate() {
            let (cell, value) = (&record[index], &row[name]);
            if name == "données" {
                // A JSON column: its JSON text in the CSV export (the query's
                // CSV cells show lists as `a, b`).
                let parsed: Option<serde_json::Value> = serde_json::from_str(cell).ok();
                assert!(value.is_null() && cell.is_empty() || parsed.as_ref() == Some(value));
                continue;
            }
            let text = match value {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            assert_eq!(
                cell, &text,
                "`{name}` of row {}: export vs JSON",
                row["__id"]
            );
            assert_eq!(
                &queried[index], &text,
                "`{name}` of row {}: query vs JSON",
                row["__id"]
            );
        }
    }
    assert!(exported.contains(",true,") && !exported.contains(",t,"));
}

/// Every option does what it says or is refused, with the reason, before
/// any request (nothing written, nothing printed).
#[test]
fn options_do_what_they_say_or_are_refused() {
    let stack = stack!();
    let types = stack.get("RID_TYPES");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (xlsx, parquet, json, csv) = (
        path("out.xlsx"),
        path("site.parquet"),
        path("site.json"),
        path("out.csv"),
    );
    let refused: &[(&[&str], &str)] = &[
        (
            &["tabular", "export", types, &xlsx],
            "writes no `.xlsx` files",
        ),
        (&["metrics", "export", "site", &parquet], "exports CSV only"),
        (&["metrics", "export", "site", &json], "exports CSV only"),
        (
            &["tabular", "export", types, &csv, "--fields", "entier"],
            "use --columns",
        ),
        (
            &["tabular", "query", types, "--fields", "nope"],
            "no column of these rows; the columns are: __id, nom complet",
        ),
        (
            &["metrics", "query", "site", "--where", "or(a__exact=1)"],
            "unexpected argument '--where'",
        ),
        (
            &["tabular", "query", types, "--filter", "entier__exact=100,5"],
            "the column `entier` holds whole numbers",
        ),
        (
            &[
                "tabular",
                "query",
                types,
                "--filter",
                "avg.views__exact=100,5",
            ],
            "written with a point: write 100.5",
        ),
        (
            &[
                "tabular",
                "query",
                types,
                "--filter",
                "date__exact=not-a-date",
            ],
            "holds dates, and `not-a-date` is none: write YYYY-MM-DD",
        ),
        (
            &[
                "tabular",
                "export",
                types,
                &csv,
                "--filter",
                "date__greater=31/01/2024",
            ],
            "holds dates",
        ),
        (
            &["tabular", "query", types, "--sort", "entier:up"],
            "the order `up` is neither asc nor desc",
        ),
        (
            &["tabular", "query", types, "--limit", "0"],
            "--all for every item",
        ),
        (
            &["tabular", "query", types, "--where", "xor(entier__exact=1)"],
            "`xor(` is not a group",
        ),
        (
            &["tabular", "query", types, "--where", "or(entier__in=1,2)"],
            "`entier__in` cannot stand inside a group",
        ),
        (
            &[
                "tabular",
                "query",
                types,
                "--csv",
                "--fields",
                "entier",
                "--columns",
                "nope",
            ],
            "the valid columns of resource",
        ),
    ];
    for (args, says) in refused {
        let run = stack.run(args);
        assert_eq!(run.code, 2, "{}", run.render());
        assert!(run.stderr.contains(says), "{}", run.render());
        assert!(run.stdout.is_empty(), "nothing printed: {}", run.render());
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file written"
    );
    // A request that fails prints no CSV header first.
    let run = stack.run(&[
        "tabular",
        "query",
        stack.get("RID_UNKNOWN"),
        "--csv",
        "--fields",
        "a",
    ]);
    assert_eq!((run.code, run.stdout.as_str()), (3, ""), "{}", run.render());
    // `--where` is offered where it works only.
    let help = stack.run(&["metrics", "query", "--help"]);
    assert!(!help.ok().contains("--where"));
    let help = stack.run(&["metrics", "export", "--help"]);
    assert!(!help.ok().contains("--where"));
    // `--fields` naming summary fields is what it says on an export.
    let run = stack.run(&[
        "tabular", "export", types, &csv, "--fields", "rows", "--csv",
    ]);
    assert_eq!(run.ok(), "rows\n30\n");
}

/// `tabular query --all` reads through the export (a request per 50,000
/// rows), not page by page (4,000 requests of 50 rows here).
#[test]
fn query_all_reads_every_row_through_the_export() {
    let stack = stack!();
    let started = std::time::Instant::now();
    let run = stack.run(&[
        "tabular",
        "query",
        stack.get("RID_BIG"),
        "--all",
        "--columns",
        "__id",
        "--jsonl",
    ]);
    let elapsed = started.elapsed();
    let ids: Vec<u64> = run
        .ok()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["__id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, (1..=200_000).collect::<Vec<_>>());
    assert!(
        elapsed < std::time::Duration::from_secs(30),
        "200,000 rows in {elapsed:?}"
    );
}

/// `datagouv sql`: the `not_aggregated` fixture's sums per category
/// (computed here from its formula), in every output format, to files
/// written whole, and its mistakes with the usual exit codes.
#[test]
fn sql_prints_like_every_command_and_writes_files_whole() {
    let stack = stack!();
    let rid = stack.get("RID_NOT_AGGREGATED");
    let query = format!(
        "SELECT categorie, COUNT(*) AS n, SUM(score) AS total FROM \"{rid}\" GROUP BY categorie ORDER BY categorie"
    );
    // Row i = 1..100: categorie CATS[i % 5], score (i * 7) % 100.
    let cats = ["alpha", "bêta", "gamma", "delta", "epsilon"];
    let mut expected: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for i in 1..=100i64 {
        let entry = expected.entry(cats[(i % 5) as usize]).or_default();
        entry.0 += 1;
        entry.1 += (i * 7) % 100;
    }
    let json: serde_json::Value =
        serde_json::from_str(stack.run(&["sql", &query, "--json"]).ok()).unwrap();
    let got: Vec<(String, i64, i64)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["categorie"].as_str().unwrap().to_owned(),
                row["n"].as_i64().unwrap(),
                row["total"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, i64, i64)> = expected
        .iter()
        .map(|(cat, (n, total))| ((*cat).to_owned(), *n, *total))
        .collect();
    assert_eq!(got, want);
    let csv = stack.run(&["sql", &query, "--csv"]).ok().to_owned();
    assert!(csv.starts_with("categorie,n,total\nalpha,20,"), "{csv}");
    assert_eq!(
        stack.run(&["sql", &query, "--jsonl"]).ok().lines().count(),
        5
    );

    let dir = tempfile::tempdir().unwrap();
    let out_csv = dir.path().join("sums.csv");
    let run = stack.run(&["sql", &query, "-o", out_csv.to_str().unwrap()]);
    run.ok();
    assert_eq!(std::fs::read_to_string(&out_csv).unwrap(), csv);
    assert!(run.stderr.contains("wrote 5 rows"), "{}", run.render());
    let out_parquet = dir.path().join("sums.parquet");
    stack
        .run(&["sql", &query, "-o", out_parquet.to_str().unwrap()])
        .ok();
    assert!(std::fs::read(&out_parquet).unwrap().starts_with(b"PAR1"));

    // Mistakes: a usage error (2) names what to change, an unknown or deleted resource is 3,
    // a destination that cannot be written is refused before any request, nothing is left behind.
    let bad_sql = stack.run(&["sql", "SELEC 1"]);
    assert_eq!(bad_sql.code, 2, "{}", bad_sql.render());
    let column = stack.run(&["sql", &format!("SELECT scor FROM \"{rid}\"")]);
    assert_eq!(column.code, 2, "{}", column.render());
    assert!(
        column.stderr.contains("score"),
        "the real columns are listed: {}",
        column.render()
    );
    let unknown = stack.run(&[
        "sql",
        &format!("SELECT * FROM \"{}\"", stack.get("RID_UNKNOWN")),
    ]);
    assert_eq!(unknown.code, 3, "{}", unknown.render());
    let deleted = stack.run(&[
        "sql",
        &format!("SELECT * FROM \"{}\"", stack.get("RID_DELETED")),
    ]);
    assert_eq!(deleted.code, 3, "{}", deleted.render());
    let not_an_id = stack.run(&["sql", "SELECT * FROM \"../../etc/passwd\""]);
    assert_eq!(not_an_id.code, 2, "{}", not_an_id.render());
    let write = stack.run(&["sql", "CREATE TABLE t AS SELECT 1"]);
    assert_eq!(write.code, 2, "{}", write.render());
    let nowhere = stack.run(&["sql", &query, "-o", "/nonexistent-folder/x.csv"]);
    assert_eq!(nowhere.code, 1, "{}", nowhere.render());
    let odd = stack.run(&[
        "sql",
        &query,
        "-o",
        dir.path().join("x.xyz").to_str().unwrap(),
    ]);
    assert_eq!(odd.code, 2, "{}", odd.render());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// ---------------------------------------------------------------------------
// Issue 25: topics, API tokens, resources by id alone, the official
// datagouv-cli 0.4.2 grammar, completions and man pages.
// ---------------------------------------------------------------------------

/// The JSON the Main API answers to a GET of `path` (below the site root,
/// e.g. `/api/1/datasets/ID/`), read without this crate: plain HTTP/1.0 on
/// the stack's local port. `key` is sent as `X-API-KEY` when given.
fn api_json(stack: &Stack, path: &str, key: Option<&str>) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let base = stack.get("UDATA_BASE_URL");
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let key = key
        .map(|k| format!("X-API-KEY: {k}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\n{key}Accept: application/json\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if body.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    (status, body)
}

/// `value` without the members' `last_login_at`, which udata sets on each
/// request made with a key (so two reads never agree on it).
fn without_logins(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(members) = value["members"].as_array_mut() {
        for member in members {
            if let Some(user) = member["user"].as_object_mut() {
                user.remove("last_login_at");
            }
        }
    }
    value
}

/// The binary as the non-admin user, its output read as JSON.
fn json_of(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.ok()).unwrap_or_else(|e| panic!("{e}: {}", run.render()))
}

#[test]
fn topics_are_created_listed_shown_with_elements_of_every_kind_updated_and_deleted() {
    let stack = stack!();
    let (dataset, org) = (stack.get("SPATIAL_DATASET_ID"), stack.get("USER_ORG_ID"));
    // A reuse and a dataservice of udata's fixtures.
    let reuse = api_json(&stack, "/api/1/reuses/?page_size=1", None).1["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dataservice = api_json(&stack, "/api/1/dataservices/?page_size=1", None).1["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let created = stack.user_json(&[
        "topics",
        "create",
        "Thème de la CLI",
        "--description",
        "Créé par la CLI.",
        "--organization",
        org,
        "--tag",
        "cli-topic",
        "--dataset",
        dataset,
        "--reuse",
        &reuse,
        "--dataservice",
        &dataservice,
        "--text",
        "Un élément de texte",
        "--json",
    ]);
    let topic = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["organization"]["id"], org);
    assert_eq!(created["elements"]["total"], 4, "{created}");

    // Listed (by organization), shown as the API shows it.
    let listed = stack.user_json(&["topics", "list", "--organization", org, "--json"]);
    assert!(
        listed.as_array().unwrap().iter().any(|t| t["id"] == topic),
        "{listed}"
    );
    let shown = stack.user_json(&["topics", "show", &topic, "--json"]);
    let (status, api) = api_json(&stack, &format!("/api/2/topics/{topic}/"), None);
    assert_eq!(status, 200);
    for field in ["id", "name", "slug", "description", "tags", "elements"] {
        assert_eq!(shown[field], api[field], "{field}");
    }

    // Elements of every kind, all and one kind at a time.
    let elements = stack.user_json(&["topics", "elements", &topic, "--json"]);
    let classes: Vec<&serde_json::Value> = elements
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["element"]["class"])
        .collect();
    assert_eq!(
        classes,
        [
            &serde_json::json!("Dataset"),
            &serde_json::json!("Reuse"),
            &serde_json::json!("Dataservice"),
            &serde_json::Value::Null
        ],
        "{elements}"
    );
    for (kind, class, id) in [
        ("dataset", "Dataset", dataset),
        ("reuse", "Reuse", reuse.as_str()),
        ("dataservice", "Dataservice", dataservice.as_str()),
    ] {
        let one = stack.user_json(&["topics", "elements", &topic, "--kind", kind, "--json"]);
        assert_eq!(one.as_array().unwrap().len(), 1, "{kind}: {one}");
        assert_eq!(one[0]["element"]["class"], class);
        // The objects themselves (the SDK's object streams), read whole.
        let objects = stack.user_json(&[
            "topics",
            "elements",
            &topic,
            "--kind",
            kind,
            "--objects",
            "--json",
        ]);
        assert_eq!(objects[0]["id"], id, "{kind}: {objects}");
        assert!(objects[0]["title"].is_string(), "{kind}: {objects}");
    }
    let text = stack.user_json(&["topics", "elements", &topic, "--kind", "text", "--json"]);
    assert_eq!(text[0]["title"], "Un élément de texte", "{text}");

    // Updated: the fields named change, the others and the elements stay.
    let updated = stack.user_json(&[
        "topics",
        "update",
        &topic,
        "--set",
        "description=Changé.",
        "--set",
        "private=true",
        "--json",
    ]);
    assert_eq!(updated["private"], true);
    let (_, read_back) = api_json(
        &stack,
        &format!("/api/2/topics/{topic}/"),
        Some(stack.get("USER_KEY")),
    );
    assert_eq!(read_back["description"], "Changé.");
    assert_eq!(read_back["private"], true);
    assert_eq!(read_back["tags"], serde_json::json!(["cli-topic"]));
    assert_eq!(read_back["elements"]["total"], 4);
    let bad = Run::of(
        stack.user_cli(),
        &["topics", "update", &topic, "--set", "colour=3"],
    );
    assert_eq!(bad.code, 2, "{}", bad.render());

    // Elements removed (by the object's id or the element's) and added.
    let removed = stack.user_json(&["topics", "remove", &topic, &reuse, "--json"]);
    assert_eq!(removed[0]["object"], reuse.as_str(), "{removed}");
    let element_of_text = text[0]["id"].as_str().unwrap();
    stack.user_json(&["topics", "remove", &topic, element_of_text, "--json"]);
    let missing = Run::of(stack.user_cli(), &["topics", "remove", &topic, &reuse]);
    assert_eq!(missing.code, 3, "{}", missing.render());
    let added = stack.user_json(&["topics", "add", &topic, "--reuse", &reuse, "--json"]);
    assert_eq!(added[0]["element"]["id"], reuse.as_str(), "{added}");
    let (_, after) = api_json(
        &stack,
        &format!("/api/2/topics/{topic}/elements/"),
        Some(stack.get("USER_KEY")),
    );
    assert_eq!(after["total"], 3, "{after}");

    // Deleted, and gone.
    stack.user_json(&["topics", "delete", &topic, "--json"]);
    assert_eq!(
        api_json(&stack, &format!("/api/2/topics/{topic}/"), None).0,
        404
    );
    let gone = Run::of(stack.user_cli(), &["topics", "show", &topic]);
    assert_eq!(gone.code, 3, "{}", gone.render());
}

#[test]
fn a_resource_is_shown_updated_and_deleted_by_its_id_alone() {
    let stack = stack!();
    let dataset = stack.get("SPATIAL_DATASET_ID");
    let rid =
        api_json(&stack, &format!("/api/1/datasets/{dataset}/"), None).1["resources"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let scoped = stack.user_json(&["resources", "show", dataset, &rid, "--json"]);
    let alone = stack.user_json(&["resources", "show", &rid, "--json"]);
    assert_eq!(alone, scoped);
    assert_eq!(alone["id"], rid.as_str());
    let unknown = stack.run(&["resources", "show", "00000000-0000-0000-0000-000000000000"]);
    assert_eq!(unknown.code, 3, "{}", unknown.render());

    // A dataset of its own, for the writes.
    let created = stack.user_json(&[
        "datasets",
        "create",
        "Jeu des ressources par id",
        "--description",
        "Pour les ressources.",
        "--json",
    ]);
    let id = created["id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lignes.csv");
    std::fs::write(&file, "a;b\n1;2\n").unwrap();
    let uploaded = stack.user_json(&["resources", "upload", id, file.to_str().unwrap(), "--json"]);
    let rid = uploaded["id"].as_str().unwrap();
    let updated = stack.user_json(&[
        "resources",
        "update",
        rid,
        "--set",
        "description=Par son id.",
        "--json",
    ]);
    assert_eq!(updated["description"], "Par son id.");
    let (_, read_back) = api_json(
        &stack,
        &format!("/api/1/datasets/{id}/resources/{rid}/"),
        Some(stack.get("USER_KEY")),
    );
    assert_eq!(read_back["description"], "Par son id.");
    assert_eq!(read_back["title"], "lignes.csv", "the other fields stay");
    let bad = Run::of(
        stack.user_cli(),
        &["resources", "update", rid, "--set", "filesize=big"],
    );
    assert_eq!(bad.code, 2, "{}", bad.render());
    stack.user_json(&["resources", "delete", rid, "--json"]);
    assert_eq!(
        api_json(
            &stack,
            &format!("/api/1/datasets/{id}/resources/{rid}/"),
            Some(stack.get("USER_KEY"))
        )
        .0,
        404
    );
    stack.user_json(&["datasets", "delete", id, "--json"]);
}

#[test]
fn a_token_is_created_used_listed_revoked_then_refused_and_its_secret_is_in_no_log() {
    let stack = stack!();
    let user_key = stack.get("USER_KEY");
    let mut create = stack.user_cli();
    create.env("RUST_LOG", "trace");
    let run = Run::of(
        create,
        &[
            "tokens",
            "create",
            "jeton de la CLI",
            "--expires",
            "2099-01-01",
            "--json",
        ],
    );
    let created = json_of(&run);
    let secret = created["token"].as_str().unwrap().to_owned();
    // `--fields` takes the fields of a new token, the secret among them.
    let only = Run::of(
        stack.user_cli(),
        &[
            "tokens",
            "create",
            "jeton bref",
            "--fields",
            "name,token,token_prefix",
            "--jsonl",
        ],
    );
    let only = json_of(&only);
    assert_eq!(only["name"], "jeton bref");
    assert!(only["token"].as_str().unwrap().starts_with("udata_"));
    let prefix_of_brief = only["token_prefix"].as_str().unwrap().to_owned();
    Run::of(stack.user_cli(), &["tokens", "revoke", &prefix_of_brief]).ok();
    assert!(secret.starts_with("udata_"), "{created}");
    assert!(
        !run.stderr.contains(&secret),
        "the secret is on stdout only"
    );
    assert!(run.stderr.contains("shown this once"), "{}", run.render());
    assert_eq!(created["scopes"], serde_json::json!(["admin"]));
    assert!(
        created["expires_at"]
            .as_str()
            .unwrap()
            .starts_with("2099-01-01")
    );
    let prefix = created["token_prefix"].as_str().unwrap().to_owned();

    let listed = |stack: &Stack| -> serde_json::Value {
        let run = Run::of(stack.user_cli(), &["tokens", "list", "--json"]);
        assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret));
        let all = json_of(&run);
        all.as_array()
            .unwrap()
            .iter()
            .find(|t| t["token_prefix"] == prefix.as_str())
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    assert_eq!(listed(&stack)["last_used_at"], serde_json::Value::Null);

    // Used for a write, with every log on: the secret is in no line.
    let with_token = || {
        let mut command = stack.cli();
        command
            .env("DATAGOUV_API_KEY", &secret)
            .env("RUST_LOG", "trace");
        command
    };
    let write = Run::of(
        with_token(),
        &[
            "datasets",
            "create",
            "Jeu du jeton",
            "--description",
            "Écrit avec un jeton nommé.",
            "--json",
        ],
    );
    let dataset = json_of(&write)["id"].as_str().unwrap().to_owned();
    assert!(!write.stderr.contains(&secret) && !write.stdout.contains(&secret));
    let used = listed(&stack);
    assert!(used["last_used_at"].is_string(), "{used}");
    assert!(
        used["user_agents"].to_string().contains("datagouv-rs"),
        "{used}"
    );

    // `auth status` names the token in use, its scopes and expiry, never it.
    let status = Run::of(with_token(), &["auth", "status", "--csv"]);
    status.ok();
    assert!(!status.stdout.contains(&secret) && !status.stderr.contains(&secret));
    assert!(
        status.stdout.contains("token,jeton de la CLI (") && status.stdout.contains(&prefix),
        "{}",
        status.render()
    );
    assert!(
        status.stdout.contains("scopes,admin,server"),
        "{}",
        status.render()
    );
    assert!(
        status.stdout.contains("expires_at,2099-01-01"),
        "{}",
        status.render()
    );
    let offline = Run::of(with_token(), &["auth", "status", "--offline", "--csv"]);
    assert!(!offline.ok().contains("token,"), "{}", offline.render());

    // Revoked by its prefix: refused from then on (exit 4), gone from the list.
    let revoked = stack.user_json(&["tokens", "revoke", &prefix, "--json"]);
    assert_eq!(revoked["revoked"], created["id"]);
    assert_eq!(listed(&stack), serde_json::Value::Null);
    let refused = Run::of(with_token(), &["datasets", "delete", &dataset]);
    assert_eq!(refused.code, 4, "{}", refused.render());
    assert!(!refused.stderr.contains(&secret));
    let status = Run::of(with_token(), &["auth", "status", "--csv"]);
    assert!(
        status.ok().contains("refused by the server"),
        "{}",
        status.render()
    );
    let again = Run::of(stack.user_cli(), &["tokens", "revoke", &prefix]);
    assert_eq!(again.code, 3, "{}", again.render());

    // Refused before any request: a date that is none. By the server: one past.
    let no_date = Run::of(
        stack.user_cli(),
        &["tokens", "create", "x", "--expires", "demain"],
    );
    assert_eq!(no_date.code, 2, "{}", no_date.render());
    let past = Run::of(
        stack.user_cli(),
        &["tokens", "create", "x", "--expires", "2000-01-01"],
    );
    assert_eq!(past.code, 2, "{}", past.render());
    assert!(past.stderr.contains("future"), "{}", past.render());
    assert!(
        !Run::of(stack.user_cli(), &["tokens", "list", "--json"])
            .ok()
            .contains("\"x\"")
    );
    Run::of(stack.user_cli(), &["datasets", "delete", &dataset]).ok();
    let _ = user_key;
}

/// Every command line of the official `datagouv-cli` 0.4.2 (Python), as
/// its README writes them and as its `--help` trees (its typer commands)
/// define them, with `{PLACEHOLDERS}` for the objects of the test stack.
/// `official_cli_command_lines_work_against_udata` runs each once.
const OFFICIAL_COMMAND_LINES: &[(&str, &[&str])] = &[
    // The README.
    ("setup", &["setup"]),
    ("readme dataset get", &["dataset", "get", "{DATASET}"]),
    (
        "readme organization display",
        &["organization", "display", "{ORG}"],
    ),
    ("readme organization get", &["organization", "get", "{ORG}"]),
    (
        "readme dataset create",
        &[
            "dataset",
            "create",
            "--title",
            "New dataset",
            "--description",
            "Nice description",
            "--organization_id",
            "{ORG}",
        ],
    ),
    (
        "readme dataset update",
        &[
            "dataset",
            "update",
            "{NEW_DATASET}",
            "--set",
            "title=New title",
            "--set",
            "private=true",
        ],
    ),
    (
        "readme resource create",
        &[
            "resource",
            "create",
            "{NEW_DATASET}",
            "First resource",
            "--file-to-upload",
            "{FILE}",
            "--set",
            "type=main",
        ],
    ),
    (
        "readme resource delete",
        &["resource", "delete", "{NEW_RESOURCE}"],
    ),
    ("delete-config", &["delete-config"]),
    // The --help trees: dataset.
    ("dataset display", &["dataset", "display", "{DATASET}"]),
    (
        "dataset create",
        &[
            "dataset",
            "create",
            "Second dataset",
            "Its description",
            "--owner-id",
            "{USER}",
            "--set",
            "frequency=monthly",
        ],
    ),
    (
        "dataset sort-resources",
        &["dataset", "sort-resources", "{NEW_DATASET}", "title.desc"],
    ),
    ("dataset delete", &["dataset", "delete", "{NEW_DATASET}"]),
    // organization.
    (
        "organization create",
        &[
            "organization",
            "create",
            "Organisation officielle",
            "Créée comme le fait datagouv-cli",
            "--set",
            "acronym=OFF",
        ],
    ),
    (
        "organization update",
        &[
            "organization",
            "update",
            "{NEW_ORG}",
            "--set",
            "url=https://example.org/off",
        ],
    ),
    (
        "organization delete",
        &["organization", "delete", "{NEW_ORG}"],
    ),
    // resource.
    ("resource display", &["resource", "display", "{RESOURCE}"]),
    ("resource get", &["resource", "get", "{RESOURCE}"]),
    (
        "resource create remote",
        &[
            "resource",
            "create",
            "{NEW_DATASET}",
            "A remote file",
            "--url",
            "https://example.org/remote.csv",
            "--set",
            "format=csv",
        ],
    ),
    (
        "resource create community",
        &[
            "resource",
            "create",
            "{NEW_DATASET}",
            "A community file",
            "--url",
            "https://example.org/community.csv",
            "--is-communautary",
        ],
    ),
    (
        "resource update",
        &[
            "resource",
            "update",
            "{NEW_RESOURCE}",
            "--set",
            "description=Changed",
        ],
    ),
    (
        "resource download",
        &["resource", "download", "{NEW_RESOURCE}", "{PATH}"],
    ),
    // topic.
    (
        "topic create",
        &[
            "topic",
            "create",
            "Official topic",
            "--organization-id",
            "{ORG}",
            "--set",
            "description=Made the official way",
        ],
    ),
    ("topic display", &["topic", "display", "{NEW_TOPIC}"]),
    ("topic get", &["topic", "get", "{NEW_TOPIC}"]),
    (
        "topic update",
        &["topic", "update", "{NEW_TOPIC}", "--set", "private=true"],
    ),
    ("topic delete", &["topic", "delete", "{NEW_TOPIC}"]),
];

#[test]
fn official_cli_command_lines_work_against_udata() {
    let stack = stack!();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("conf").join("config.toml");
    let file = dir.path().join("first.csv");
    std::fs::write(&file, "b;a\n1;2\n").unwrap();
    let download = dir.path().join("sub").join("copy.csv");
    let mut values: BTreeMap<&str, String> = BTreeMap::new();
    values.insert("{ORG}", stack.get("USER_ORG_ID").into());
    values.insert("{USER}", stack.get("USER_ID").into());
    values.insert("{DATASET}", stack.get("SPATIAL_DATASET_ID").into());
    values.insert("{FILE}", file.display().to_string());
    values.insert("{PATH}", download.display().to_string());
    let rid = api_json(
        &stack,
        &format!("/api/1/datasets/{}/", values["{DATASET}"]),
        None,
    )
    .1["resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    values.insert("{RESOURCE}", rid);
    let mut ran = std::collections::BTreeSet::new();
    // The key comes from the config file `setup` writes, as with the
    // official tool; the stack's URLs from the variables.
    let mut official = |name: &str, values: &BTreeMap<&str, String>, stdin: Option<&str>| -> Run {
        let (_, args) = OFFICIAL_COMMAND_LINES
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no command line {name}"));
        ran.insert(name.to_owned());
        let args: Vec<String> = args
            .iter()
            .map(|a| values.get(a).cloned().unwrap_or_else(|| (*a).to_owned()))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = stack.cli();
        command.env("DATAGOUV_CONFIG", &config);
        if let Some(stdin) = stdin {
            command.write_stdin(stdin);
        }
        let run = Run::of(command, &args);
        assert_eq!(run.code, 0, "{name}: {}", run.render());
        run
    };
    let key = stack.get("USER_KEY");
    let created_id = |run: &Run| -> String {
        let line = run.stdout.trim();
        line.rsplit(' ').next().unwrap().to_owned()
    };

    // setup: the environment and the key, asked for, into our config file.
    let run = official("setup", &values, Some(&format!("prod\n{key}\n")));
    assert_eq!(run.stdout, "Config saved ✓\n", "{}", run.render());
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("env = \"prod\"") && written.contains(key));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // get: the API's JSON; display: `name: value` lines and rules.
    let run = official("readme dataset get", &values, None);
    let api = api_json(
        &stack,
        &format!("/api/1/datasets/{}/", values["{DATASET}"]),
        Some(key),
    )
    .1;
    assert_eq!(json_of(&run), api);
    let run = official("readme organization get", &values, None);
    let api = api_json(
        &stack,
        &format!("/api/1/organizations/{}/", values["{ORG}"]),
        Some(key),
    )
    .1;
    assert_eq!(without_logins(json_of(&run)), without_logins(api.clone()));
    let run = official("readme organization display", &values, None);
    assert!(
        run.stdout.starts_with("badges: [")
            && run
                .stdout
                .contains(&format!("\nname: {}\n", api["name"].as_str().unwrap()))
            && run.stdout.contains("\n────────────────────\n"),
        "{}",
        run.render()
    );
    let run = official("dataset display", &values, None);
    assert!(run.stdout.contains("\ntitle: "), "{}", run.render());
    let run = official("resource get", &values, None);
    let api = api_json(
        &stack,
        &format!(
            "/api/1/datasets/{}/resources/{}/",
            values["{DATASET}"], values["{RESOURCE}"]
        ),
        Some(key),
    )
    .1;
    assert_eq!(json_of(&run), api);
    let run = official("resource display", &values, None);
    assert!(run.stdout.starts_with("checksum: "), "{}", run.render());

    // A dataset created, updated, given resources, sorted, deleted.
    let run = official("readme dataset create", &values, None);
    assert!(
        run.stdout
            .starts_with("Dataset created successfully ✓ id is ")
    );
    let dataset = created_id(&run);
    let api = api_json(&stack, &format!("/api/1/datasets/{dataset}/"), Some(key)).1;
    assert_eq!(
        (
            api["title"].clone(),
            api["description"].clone(),
            api["organization"]["id"].clone()
        ),
        (
            "New dataset".into(),
            "Nice description".into(),
            values["{ORG}"].clone().into()
        )
    );
    values.insert("{NEW_DATASET}", dataset.clone());
    let run = official("readme dataset update", &values, None);
    assert_eq!(run.stdout, "Dataset updated successfully ✓\n");
    let api = api_json(&stack, &format!("/api/1/datasets/{dataset}/"), Some(key)).1;
    assert_eq!(
        (api["title"].clone(), api["private"].clone()),
        ("New title".into(), true.into())
    );

    let run = official("readme resource create", &values, None);
    assert!(
        run.stdout
            .starts_with("Resource created successfully ✓ id is ")
    );
    let uploaded = created_id(&run);
    let run = official("resource create remote", &values, None);
    let remote = created_id(&run);
    let api = api_json(&stack, &format!("/api/1/datasets/{dataset}/"), Some(key)).1;
    let titles: Vec<&str> = api["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    // udata lists the newest first.
    assert_eq!(titles, ["A remote file", "First resource"]);
    assert_eq!(api["resources"][1]["filetype"], "file");
    assert_eq!(api["resources"][0]["url"], "https://example.org/remote.csv");
    let run = official("resource create community", &values, None);
    let community = created_id(&run);
    let api = api_json(
        &stack,
        &format!("/api/1/datasets/community_resources/{community}/"),
        Some(key),
    )
    .1;
    assert_eq!(api["title"], "A community file");
    assert_eq!(api["dataset"]["id"], dataset.as_str());

    let run = official("dataset sort-resources", &values, None);
    assert_eq!(run.stdout, "Dataset's resources reordered successfully ✓\n");
    let api = api_json(&stack, &format!("/api/1/datasets/{dataset}/"), Some(key)).1;
    let order: Vec<&str> = api["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [uploaded.as_str(), remote.as_str()],
        "by title, descending"
    );

    values.insert("{NEW_RESOURCE}", uploaded.clone());
    let run = official("resource update", &values, None);
    assert_eq!(run.stdout, "Resource updated successfully ✓\n");
    let api = api_json(
        &stack,
        &format!("/api/1/datasets/{dataset}/resources/{uploaded}/"),
        Some(key),
    )
    .1;
    assert_eq!(api["description"], "Changed");
    let run = official("resource download", &values, None);
    assert_eq!(
        run.stdout,
        format!(
            "Resource downloaded successfully at {} ✓\n",
            download.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&download).unwrap(), "b;a\n1;2\n");
    let run = official("readme resource delete", &values, None);
    assert_eq!(run.stdout, "Resource deleted successfully ✓\n");
    assert_eq!(
        api_json(
            &stack,
            &format!("/api/1/datasets/{dataset}/resources/{uploaded}/"),
            Some(key)
        )
        .0,
        404
    );

    let run = official("dataset create", &values, None);
    let second = created_id(&run);
    let api = api_json(&stack, &format!("/api/1/datasets/{second}/"), Some(key)).1;
    assert_eq!(api["owner"]["id"], values["{USER}"].as_str());
    assert_eq!(api["frequency"], "monthly");
    for id in [dataset, second] {
        values.insert("{NEW_DATASET}", id.clone());
        let run = official("dataset delete", &values, None);
        assert_eq!(run.stdout, "Dataset deleted successfully ✓\n");
        let (status, api) = api_json(&stack, &format!("/api/1/datasets/{id}/"), Some(key));
        assert!(
            status == 410 || api["deleted"].is_string(),
            "{status} {api}"
        );
    }

    // An organization.
    let run = official("organization create", &values, None);
    assert!(
        run.stdout
            .starts_with("Organization created successfully ✓ id is ")
    );
    let org = created_id(&run);
    let api = api_json(&stack, &format!("/api/1/organizations/{org}/"), None).1;
    assert_eq!(
        (api["name"].clone(), api["acronym"].clone()),
        ("Organisation officielle".into(), "OFF".into())
    );
    values.insert("{NEW_ORG}", org.clone());
    official("organization update", &values, None);
    let api = api_json(&stack, &format!("/api/1/organizations/{org}/"), None).1;
    assert_eq!(api["url"], "https://example.org/off");
    assert_eq!(
        api["description"], "Créée comme le fait datagouv-cli",
        "the rest stays"
    );
    let run = official("organization delete", &values, None);
    assert_eq!(run.stdout, "Organization deleted successfully ✓\n");
    let (status, api) = api_json(&stack, &format!("/api/1/organizations/{org}/"), None);
    assert!(
        status == 410 || api["deleted"].is_string(),
        "{status} {api}"
    );

    // A topic.
    let run = official("topic create", &values, None);
    assert!(
        run.stdout
            .starts_with("Topic created successfully ✓ id is : ")
    );
    let topic = created_id(&run);
    values.insert("{NEW_TOPIC}", topic.clone());
    let run = official("topic get", &values, None);
    assert_eq!(
        json_of(&run),
        api_json(&stack, &format!("/api/2/topics/{topic}/"), Some(key)).1
    );
    assert_eq!(json_of(&run)["description"], "Made the official way");
    let run = official("topic display", &values, None);
    assert!(
        run.stdout.contains("\nname: Official topic\n"),
        "{}",
        run.render()
    );
    official("topic update", &values, None);
    assert_eq!(
        api_json(&stack, &format!("/api/2/topics/{topic}/"), Some(key)).1["private"],
        true
    );
    let run = official("topic delete", &values, None);
    assert_eq!(run.stdout, "Topic deleted successfully ✓\n");
    assert_eq!(
        api_json(&stack, &format!("/api/2/topics/{topic}/"), Some(key)).0,
        404
    );

    // delete-config: the file is gone.
    let run = official("delete-config", &values, None);
    assert_eq!(run.stdout, "Config deleted ✓\n");
    assert!(!config.exists());

    let all: std::collections::BTreeSet<String> = OFFICIAL_COMMAND_LINES
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(ran, all, "every official command line ran");
    // Hidden from the main help, which stays ours.
    let help = Run::of(bare_cli(), &["--help"]);
    assert!(!help.ok().contains("delete-config") && !help.stdout.contains("  dataset "));
}

#[test]
fn completions_for_four_shells_and_bash_completes_ta_to_tabular() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = Run::of(bare_cli(), &["completions", shell]);
        assert!(run.ok().contains("tabular"), "{shell}: {}", run.render());
        std::fs::write(dir.path().join(shell), &run.stdout).unwrap();
    }
    let bash = std::process::Command::new("bash")
        .arg("-c")
        .arg(
            r#"source "$1"
COMP_WORDS=(datagouv ta); COMP_CWORD=1; COMP_LINE="datagouv ta"; COMP_POINT=${#COMP_LINE}
complete -p datagouv >/dev/null && $(complete -p datagouv | sed -E 's/.*-F ([^ ]+).*/\1/') datagouv ta datagouv
printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .arg("bash")
        .arg(dir.path().join("bash"))
        .output()
        .unwrap();
    let completed = String::from_utf8_lossy(&bash.stdout);
    assert_eq!(
        completed.split_whitespace().collect::<Vec<_>>(),
        ["tabular"],
        "{completed} {}",
        String::from_utf8_lossy(&bash.stderr)
    );
    let unknown = Run::of(bare_cli(), &["completions", "tcsh"]);
    assert_eq!(unknown.code, 2, "{}", unknown.render());

    // The man page, and one page per command.
    let man = Run::of(bare_cli(), &["man"]);
    assert!(man.ok().starts_with(".ie \\n(.g .ds Aq") || man.stdout.contains(".TH datagouv"));
    assert!(man.stdout.contains("tabular"), "{}", man.render());
    let pages = dir.path().join("man");
    Run::of(bare_cli(), &["man", "--dir", pages.to_str().unwrap()]).ok();
    for page in [
        "datagouv.1",
        "datagouv-topics.1",
        "datagouv-tokens-create.1",
    ] {
        assert!(pages.join(page).is_file(), "{page}: {:?}", names(&pages));
    }
}

#[test]
fn topic_token_and_resource_mistakes_are_refused_before_any_request() {
    // No server listens at this URL: a request would exit 1, not 2.
    let offline = || {
        let mut command = bare_cli();
        command
            .env("DATAGOUV_MAIN_URL", "http://127.0.0.1:9")
            .env("DATAGOUV_API_KEY", "udata_not-a-real-key");
        command
    };
    for args in [
        &["topics", "add", "t"][..],
        &["topics", "elements", "t", "--objects"],
        &["topics", "elements", "t", "--kind", "text", "--objects"],
        &["topics", "update", "t", "--set", "colour=3"],
        &["topics", "update", "t", "--set", "private=maybe"],
        &["topics", "remove", "t"],
        &["tokens", "create", "x", "--expires", "30/06/2027"],
        &["resources", "show", "d", "r", "extra"],
        &["resources", "update", "r", "--set", "nothing"],
        &["dataset", "sort-resources", "d", "title"],
        &["dataset", "sort-resources", "d", "owner.asc"],
        &["dataset", "create", "only a title"],
        &["resource", "create", "d", "t"],
        &["resource", "create", "d", "t", "--url", "not a url"],
        &["setup", "--environment", "dev"],
    ] {
        let run = Run::of(offline(), args);
        assert_eq!(run.code, 2, "{}", run.render());
        assert!(
            !run.stderr.contains("could not talk to the server"),
            "{}",
            run.render()
        );
    }
}
