//! Unit tests of the step registry: every kind reads under its own key and names it back, and
//! says what the scenario's PKI must hold for it.

use crate::runner::world::PkiNeed;
use crate::spec::parse_str;

/// A tenant, a connector `c` and a SCEP target `d` (line 10 to 11), for the step under test.
const HEAD: &str = "name = \"x\"\nstart = \"2022-01-01T00:00:00Z\"\n[[tenant]]\nname = \"t\"\n[[connector]]\nname = \"c\"\ntenant = \"t\"\nfeatures = [\"pkcs\", \"scep\"]\nversion = \"6.2406.0.1001\"\n[[step]]\nscep_target = { name = \"d\", tenant = \"t\", subject = \"CN=d\", key_size = 2048 }\n";

/// One step of every kind, by its key.
const ONE_OF_EACH: [(&str, &str); 26] = [
    ("advance", "advance = \"P1D\""),
    ("at", "at = \"2022-02-01\""),
    (
        "install",
        "install = { name = \"n\", tenant = \"t\", features = [\"pkcs\"], version = \"6.2406.0.1001\" }",
    ),
    ("reconfigure", "reconfigure = { connector = \"c\", auto_update = false }"),
    ("uninstall", "uninstall = \"c\""),
    ("stop", "stop = \"c\""),
    ("start_connector", "start_connector = \"c\""),
    ("crash", "crash = \"c\""),
    ("set_ca", "set_ca = { ca = \"DigiCert\", available = false }"),
    ("publish_release", "publish_release = { version = \"6.2600.0.0\", date = \"2026-08-31\" }"),
    ("enqueue", "enqueue = { tenant = \"t\", kind = \"revoke\", count = 1 }"),
    ("fault", "fault = { target = \"service\", kind = \"drop\" }"),
    ("scep_enroll", "scep_enroll = { connector = \"c\", target = \"d\", expect = \"issued\" }"),
    ("scep_poll", "scep_poll = { connector = \"c\", target = \"d\", expect = \"pending\" }"),
    ("scep_validate", "scep_validate = { connector = \"c\", target = \"d\", expect = \"Success\" }"),
    ("scep_target", "scep_target = { name = \"e\", tenant = \"t\", subject = \"CN=e\", key_size = 256 }"),
    ("scep_untarget", "scep_untarget = \"d\""),
    ("block_spool", "block_spool = \"c\""),
    ("expect_spool", "expect_spool = { connector = \"c\", count = 0 }"),
    ("expect_log", "expect_log = { connector = \"c\", channel = \"Admin\", archives = 0 }"),
    ("expect_status", "expect_status = { connector = \"c\", status = \"healthy\" }"),
    (
        "expect_graph",
        "expect_graph = { tenant = \"t\", path = \"/x\", pointer = \"\", equals = 1 }",
    ),
    ("expect_http", "expect_http = { connector = \"c\", call = \"lease\", status = 200 }"),
    (
        "expect_jobs",
        "expect_jobs = { tenant = \"t\", state = \"queued\", count = 0, attempts = 0 }",
    ),
    ("expect_events", "expect_events = { connector = \"c\", event_id = 1000, min = 0 }"),
    ("expect_history", "expect_history = { connector = \"c\", entries = [] }"),
];

fn last_action(step: &str) -> super::Step {
    let text = format!("{HEAD}[[step]]\nnote = \"under test\"\n{step}\n");
    let mut scenario = parse_str("t.toml", &text).unwrap_or_else(|e| panic!("{step}: {e}"));
    scenario.steps.pop().expect("a step")
}

#[test]
fn every_step_kind_reads_under_its_key_and_names_it_back() {
    // Every key the `[[step]]` table accepts has its line above (a new kind needs one).
    let e = parse_str("t.toml", &format!("{HEAD}[[step]]\nreboot = \"c\"\n")).unwrap_err();
    let accepted: Vec<&str> = e.message.split('`').skip(3).step_by(2).collect();
    let listed: Vec<&str> = ONE_OF_EACH.iter().map(|(key, _)| *key).collect();
    assert_eq!(accepted[1..], listed[..], "{e}");
    for (key, step) in ONE_OF_EACH {
        let read = last_action(step);
        assert_eq!(read.action.kind_name(), key, "{step}");
        assert_eq!(read.line, 14, "{step}: the line of its key");
        assert_eq!(read.note.as_deref(), Some("under test"));
    }
}

#[test]
fn an_unknown_step_key_lists_every_kind_in_the_order_of_the_registry() {
    let e = parse_str("t.toml", &format!("{HEAD}[[step]]\nreboot = \"c\"\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.toml:13: unknown field `reboot`, expected one of `note`, `advance`, `at`, `install`, `reconfigure`, `uninstall`, `stop`, `start_connector`, `crash`, `set_ca`, `publish_release`, `enqueue`, `fault`, `scep_enroll`, `scep_poll`, `scep_validate`, `scep_target`, `scep_untarget`, `block_spool`, `expect_spool`, `expect_log`, `expect_status`, `expect_graph`, `expect_http`, `expect_jobs`, `expect_events`, `expect_history`"
    );
}

#[test]
fn the_pki_is_made_for_the_scenarios_whose_steps_use_it() {
    let needs: Vec<(&str, PkiNeed)> = ONE_OF_EACH
        .iter()
        .map(|(key, step)| (*key, last_action(step).action.pki()))
        .filter(|(_, need)| *need != PkiNeed::None)
        .collect();
    assert_eq!(
        needs,
        [
            ("crash", PkiNeed::Cas),
            ("set_ca", PkiNeed::Cas),
            ("enqueue", PkiNeed::Cas),
            ("scep_enroll", PkiNeed::Cas),
        ]
    );
    let import = last_action("enqueue = { tenant = \"t\", kind = \"pkcs_import\", count = 1 }");
    assert_eq!(import.action.pki(), PkiNeed::ImportKeys);
}
