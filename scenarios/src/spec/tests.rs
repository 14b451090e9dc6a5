//! Unit tests of the scenario parser: every step kind parses into typed values, and every kind of
//! mistake is an error that names the file and the line.

use super::*;

const FULL: &str = r#"name = "full"
seed = 42
start = "2022-05-01T00:00:00Z"

[[tenant]]
name = "contoso"
rollout_delay_days = 3

[[connector]]
name = "c1"
tenant = "contoso"
features = ["pkcs", "scep"]
version = "6.2202.38.0"
auto_update = false
poll_interval = "PT1M"

[[step]]
advance = "P1Y6M"

[[step]]
at = "2024-01-01"

[[step]]
install = { name = "n", tenant = "contoso", machine = "SRV", features = ["revocation"], version = "6.2406.0.1001", count = 3 }

[[step]]
reconfigure = { connector = "n-2", features = ["pkcs"], service_account = "CONTOSO\\svc" }

[[step]]
uninstall = "n-3"

[[step]]
stop = "c1"

[[step]]
start_connector = "c1"

[[step]]
publish_release = { version = "6.2600.0.0", date = "2026-08-31" }

[[step]]
enqueue = { tenant = "contoso", kind = "pkcs_create", count = 10 }

[[step]]
fault = { target = "checkin", status = 503, probability = 0.5, duration = "PT1H" }

[[step]]
scep_target = { name = "d1", tenant = "contoso", subject = "CN=device-1", key_size = 2048 }

[[step]]
scep_enroll = { connector = "c1", target = "d1", expect = "issued" }

[[step]]
expect_status = { connector = "c1", status = "error", reasons = ["VersionOutOfSupport"], support_ends = "2022-11-04T00:00:00Z" }

[[step]]
expect_graph = { tenant = "contoso", path = "/beta/deviceManagement/ndesConnectors", pointer = "/value/0/state", equals = "active" }

[[step]]
expect_http = { connector = "c1", call = "checkin", status = 403, code = "ConnectorVersionRetired" }

[[step]]
expect_jobs = { tenant = "contoso", kind = "pkcs_create", state = "queued", count = 10 }

[[step]]
expect_events = { connector = "c1", event_id = 1000, channel = "Admin", min = 1 }

[[step]]
[step.expect_history]
connector = "c1"
entries = [
  { at = "2022-05-01T00:00:00Z", status = "healthy", reasons = [] },
]
"#;

fn parse(text: &str) -> Result<Scenario, SpecError> {
    parse_str("t.toml", text)
}

fn error(text: &str) -> SpecError {
    parse(text).expect_err("the file is invalid")
}

#[test]
fn a_file_with_every_step_kind_parses_into_typed_values() {
    let s = parse(FULL).unwrap();
    assert_eq!(s.name, "full");
    assert_eq!(s.seed, 42);
    assert_eq!(s.start.to_rfc3339(), "2022-05-01T00:00:00+00:00");
    assert_eq!(s.tenants[0].rollout_delay_days, 3);
    assert_eq!(s.connectors[0].machine, "c1");
    assert_eq!(s.connectors[0].poll_interval.millis, 60_000);
    assert_eq!(s.steps.len(), 18);
    assert_eq!(
        s.steps[0].action,
        Action::Advance(DurationSpec {
            text: "P1Y6M".into(),
            months: 18,
            millis: 0
        })
    );
    assert_eq!(s.steps[0].line, 18);
    assert_eq!(
        s.steps[1].action,
        Action::At("2024-01-01T00:00:00Z".parse().unwrap())
    );
    match &s.steps[2].action {
        Action::Install(i) => {
            assert_eq!(i.count, Some(3));
            assert_eq!(i.connector.machine, "SRV");
            assert_eq!(i.connector.service_account, "SYSTEM");
        }
        other => panic!("not an install: {other:?}"),
    }
    match &s.steps[13].action {
        Action::ExpectGraph(g) => assert_eq!(g.equals, serde_json::json!("active")),
        other => panic!("not expect_graph: {other:?}"),
    }
    match &s.steps[9].action {
        Action::Fault(f) => {
            assert_eq!(f.kind.as_deref(), Some("status"));
            assert_eq!((f.status, f.probability), (Some(503), Some(0.5)));
            assert_eq!(f.duration.as_ref().map(|d| d.millis), Some(3_600_000));
        }
        other => panic!("not a fault: {other:?}"),
    }
    match &s.steps[11].action {
        Action::ScepEnroll(e) => {
            assert_eq!((e.target.as_str(), e.expect.as_str()), ("d1", "issued"))
        }
        other => panic!("not scep_enroll: {other:?}"),
    }
    let kinds: Vec<&str> = s.steps.iter().map(|st| st.action.kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "advance",
            "at",
            "install",
            "reconfigure",
            "uninstall",
            "stop",
            "start_connector",
            "publish_release",
            "enqueue",
            "fault",
            "scep_target",
            "scep_enroll",
            "expect_status",
            "expect_graph",
            "expect_http",
            "expect_jobs",
            "expect_events",
            "expect_history"
        ]
    );
    assert_eq!(s.steps[17].line, 69, "the line of [step.expect_history]");
}

const HEAD: &str = "name = \"x\"\nstart = \"2022-01-01T00:00:00Z\"\n[[tenant]]\nname = \"t\"\n[[connector]]\nname = \"c\"\ntenant = \"t\"\nfeatures = [\"pkcs\"]\nversion = \"6.2202.38.0\"\n";

#[test]
fn unknown_keys_are_errors_at_their_line() {
    let e = error("name = \"x\"\nstart = \"2022-01-01T00:00:00Z\"\ncolour = 1\n");
    assert_eq!(
        (e.line, e.message.contains("unknown field `colour`")),
        (Some(3), true),
        "{e}"
    );
    let e = error(&format!("{HEAD}machine_type = \"vm\"\n"));
    assert_eq!(e.line, Some(10), "{e}");
    assert!(e.message.contains("machine_type"), "{e}");
    let e = error(&format!("{HEAD}[[step]]\nexpect_status = {{ connector = \"c\", status = \"healthy\", colour = \"red\" }}\n"));
    assert_eq!(e.line, Some(11), "{e}");
    assert!(e.message.contains("colour"), "{e}");
}

#[test]
fn bad_values_are_errors_at_the_line_of_their_step() {
    let cases = [
        ("[[step]]\nat = \"2022-13-01T00:00:00Z\"\n", "2022-13-01"),
        ("[[step]]\nadvance = \"6 months\"\n", "6 months"),
        ("[[step]]\ninstall = { name = \"d\", tenant = \"t\", features = [\"pkcs\"], version = \"6.22\" }\n", "6.22"),
        ("[[step]]\ninstall = { name = \"d\", tenant = \"t\", features = [\"pkcs\"], version = \"6.x.1.0\" }\n", "6.x.1.0"),
        ("[[step]]\ninstall = { name = \"d\", tenant = \"t\", features = [\"ndes\"], version = \"6.2202.38.0\" }\n", "ndes"),
        ("[[step]]\ninstall = { name = \"d\", tenant = \"t\", features = [], version = \"6.2202.38.0\" }\n", "features must not be empty"),
        ("[[step]]\nexpect_status = { connector = \"c\", status = \"warning\", reasons = [\"Sleepy\"] }\n", "Sleepy"),
        ("[[step]]\nexpect_status = { connector = \"ghost\", status = \"healthy\" }\n", "ghost"),
        ("[[step]]\nexpect_graph = { tenant = \"nowhere\", path = \"/x\", pointer = \"\", equals = 1 }\n", "nowhere"),
        ("[[step]]\nfault = { target = \"service\", status = 302 }\n", "kind `status` needs `status` (400 to 599)"),
        ("[[step]]\nfault = { target = \"service\", kind = \"reset\" }\n", "reset"),
        ("[[step]]\nfault = { target = \"service\", kind = \"drop\", status = 500 }\n", "kind `drop` takes no `status` or `delay`"),
        ("[[step]]\nfault = { target = \"service\", status = 500, connector = \"ghost\" }\n", "ghost"),
        ("[[step]]\nfault = { target = \"service\", status = 500, tenant = \"nowhere\" }\n", "nowhere"),
        ("[[step]]\nfault = { target = \"service\", delay = \"PT1S\", status = 500 }\n", "kind `delay` needs `delay` and no `status`"),
        ("[[step]]\nscep_enroll = { connector = \"c\", target = \"nobody\", expect = \"issued\" }\n", "no scep_target `nobody`"),
        ("[[step]]\nblock_spool = \"ghost\"\n", "ghost"),
        ("[[step]]\nscep_poll = { connector = \"c\", target = \"nobody\", expect = \"issued\" }\n", "no scep_target `nobody`"),
        ("[[step]]\nexpect_spool = { connector = \"ghost\", count = 0 }\n", "ghost"),
        ("[[step]]\nexpect_log = { connector = \"ghost\", channel = \"Admin\", archives = 1 }\n", "ghost"),
        ("[[step]]\nexpect_log = { connector = \"c\", channel = \"Debug\", archives = 1 }\n", "Debug"),
        ("[[step]]\nexpect_log = { connector = \"c\", channel = \"Admin\" }\n", "give `archives` or `debug_min`"),
        ("[[step]]\ninstall = { name = \"d\", tenant = \"t\", features = [\"pkcs\"], version = \"6.2202.38.0\", log_max_bytes = 100 }\n", "log_max_bytes 100 is below 1024"),
        ("[[step]]\ninstall = { name = \"d\", tenant = \"t\", features = [\"pkcs\"], version = \"6.2202.38.0\", log_archives = 0 }\n", "log_archives 0 must be from 1 to 1000"),
    ];
    for (step, mentions) in cases {
        let e = error(&format!("{HEAD}{step}"));
        assert_eq!(e.line, Some(11), "{step}: {e}");
        assert!(
            e.message.contains(mentions),
            "{step}: `{e}` should mention {mentions}"
        );
    }
}

#[test]
fn a_step_needs_exactly_one_action() {
    let e = error(&format!("{HEAD}[[step]]\nnote = \"nothing\"\n"));
    assert_eq!(e.line, Some(10));
    assert!(e.message.contains("needs one action"), "{e}");
    let e = error(&format!(
        "{HEAD}[[step]]\nadvance = \"P1D\"\nuninstall = \"c\"\n"
    ));
    assert_eq!(e.line, Some(10));
    assert!(e.message.contains("advance and uninstall"), "{e}");
}

#[test]
fn references_follow_installs_and_uninstalls_in_order() {
    let ok = format!("{HEAD}[[step]]\nuninstall = \"c\"\n[[step]]\ninstall = {{ name = \"c\", tenant = \"t\", features = [\"pkcs\"], version = \"6.2406.0.1001\" }}\n");
    parse(&ok).unwrap();
    let e = error(&format!(
        "{HEAD}[[step]]\nuninstall = \"c\"\n[[step]]\nstop = \"c\"\n"
    ));
    assert_eq!(e.line, Some(13), "{e}");
    let e = error(&format!("{HEAD}[[step]]\ninstall = {{ name = \"c\", tenant = \"t\", features = [\"pkcs\"], version = \"6.2406.0.1001\" }}\n"));
    assert!(e.message.contains("already installed"), "{e}");
    let refused = format!("{HEAD}[[step]]\ninstall = {{ name = \"c\", tenant = \"t\", features = [\"pkcs\"], version = \"6.2406.0.1001\", expect_error = \"MachineAlreadyHasConnector\" }}\n");
    parse(&refused).unwrap();
}

#[test]
fn an_error_displays_as_file_colon_line_colon_message() {
    let e = SpecError {
        file: "a.toml".into(),
        line: Some(7),
        message: "bad".into(),
    };
    assert_eq!(e.to_string(), "a.toml:7: bad");
    let e = SpecError {
        file: "a.toml".into(),
        line: None,
        message: "cannot read".into(),
    };
    assert_eq!(e.to_string(), "a.toml: cannot read");
}

#[test]
fn log_keys_turn_the_file_log_on_with_defaults_for_the_rest() {
    let s = parse(&format!("{HEAD}log_debug = true\n[[step]]\nexpect_log = {{ connector = \"c\", channel = \"Operational\", debug_min = 1 }}\n")).unwrap();
    assert_eq!(
        s.connectors[0].log,
        Some(LogSpec {
            max_bytes: 52_428_800,
            archives: 10,
            debug: true
        })
    );
    assert_eq!(
        s.steps[0].action,
        Action::ExpectLog(ExpectLog {
            connector: "c".into(),
            channel: "Operational".into(),
            archives: None,
            debug_min: Some(1),
        })
    );
    let plain = parse(HEAD).unwrap();
    assert_eq!(plain.connectors[0].log, None);
}

#[test]
fn job_kinds_states_features_and_statuses_are_read_once_into_their_types() {
    use connector_sim::events::Channel;
    use service::domain::{Feature, JobKind, JobState, ReasonCode, Status};
    let s = parse(FULL).unwrap();
    assert_eq!(s.connectors[0].features, [Feature::Pkcs, Feature::Scep]);
    match &s.steps[3].action {
        Action::Reconfigure(r) => assert_eq!(r.features, Some(vec![Feature::Pkcs])),
        other => panic!("not reconfigure: {other:?}"),
    }
    match &s.steps[8].action {
        Action::Enqueue(e) => assert_eq!((e.kind, e.count), (JobKind::PkcsCreate, 10)),
        other => panic!("not enqueue: {other:?}"),
    }
    match &s.steps[12].action {
        Action::ExpectStatus(e) => assert_eq!(
            (e.status, e.reasons.clone()),
            (Status::Error, Some(vec![ReasonCode::VersionOutOfSupport]))
        ),
        other => panic!("not expect_status: {other:?}"),
    }
    match &s.steps[14].action {
        Action::ExpectHttp(e) => assert_eq!(e.call, Call::Checkin),
        other => panic!("not expect_http: {other:?}"),
    }
    match &s.steps[15].action {
        Action::ExpectJobs(e) => {
            assert_eq!(
                (e.kind, e.state),
                (Some(JobKind::PkcsCreate), JobState::Queued)
            )
        }
        other => panic!("not expect_jobs: {other:?}"),
    }
    match &s.steps[16].action {
        Action::ExpectEvents(e) => assert_eq!(e.channel, Some(Channel::Admin)),
        other => panic!("not expect_events: {other:?}"),
    }
    match &s.steps[17].action {
        Action::ExpectHistory(h) => assert_eq!(
            (h.entries[0].status, h.entries[0].reasons.len()),
            (Status::Healthy, 0)
        ),
        other => panic!("not expect_history: {other:?}"),
    }
}

#[test]
fn a_value_outside_its_type_is_an_error_that_lists_the_allowed_ones() {
    let cases = [
        (
            "[[step]]\nenqueue = { tenant = \"t\", kind = \"pkcs\", count = 1 }\n",
            "enqueue: kind `pkcs` is not one of pkcs_create, pkcs_recrypt, pkcs_import, revoke",
        ),
        (
            "[[step]]\nexpect_jobs = { tenant = \"t\", state = \"done\", count = 1 }\n",
            "expect_jobs: state `done` is not one of queued, leased, succeeded, failed, dead_letter, cancelled",
        ),
        (
            "[[step]]\nexpect_jobs = { tenant = \"t\", kind = \"renew\", state = \"queued\", count = 1 }\n",
            "expect_jobs: kind `renew` is not one of pkcs_create, pkcs_recrypt, pkcs_import, revoke",
        ),
        (
            "[[step]]\nexpect_status = { connector = \"c\", status = \"ok\" }\n",
            "expect_status: status `ok` is not one of healthy, warning, error",
        ),
        (
            "[[step]]\nexpect_events = { connector = \"c\", event_id = 1000, channel = \"Debug\", min = 1 }\n",
            "expect_events: channel `Debug` is not one of Admin, Operational",
        ),
        (
            "[[step]]\nexpect_http = { connector = \"c\", call = \"poll\", status = 200 }\n",
            "expect_http: call `poll` is not one of checkin, lease, health, update_check",
        ),
        (
            "[[step]]\n[step.expect_history]\nconnector = \"c\"\nentries = [{ at = \"2022-01-01T00:00:00Z\", status = \"fine\", reasons = [] }]\n",
            "expect_history: entries[0]: status `fine` is not one of healthy, warning, error",
        ),
        (
            "[[step]]\nreconfigure = { connector = \"c\", features = [\"ndes\"] }\n",
            "reconfigure: unknown feature `ndes`; the features are pkcs, pkcs_import, scep and revocation",
        ),
    ];
    for (step, message) in cases {
        let e = error(&format!("{HEAD}{step}"));
        assert_eq!(e.to_string(), format!("t.toml:11: {message}"), "{step}");
    }
}

#[test]
fn lines_are_where_the_toml_parser_found_the_key() {
    // `name` below a comment block.
    let e = error("# a scenario\n# about nothing\nname = \"\"\nstart = \"2022-01-01T00:00:00Z\"\n");
    assert_eq!(e.to_string(), "t.toml:3: name must not be empty");
    // Steps as an inline array of tables: the line of the action's key.
    let e = error("name = \"x\"\nstart = \"2022-01-01T00:00:00Z\"\nstep = [\n  { advance = \"6 months\" },\n]\n");
    assert_eq!(e.line, Some(4), "{e}");
    // An action written with dotted keys: the line of its first key, not the step's header.
    let e = error(&format!(
        "{HEAD}[[step]]\nnote = \"n\"\nexpect_spool.connector = \"ghost\"\nexpect_spool.count = 0\n"
    ));
    assert_eq!(
        e.to_string(),
        "t.toml:12: connector `ghost` is not installed at this step"
    );
}
