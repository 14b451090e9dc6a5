//! The whole service, property-tested: random short sequences of operator and connector actions
//! (publish a release, install, reconfigure, uninstall, check in, jump the clock by seconds to
//! months or to a connector's next boundary) are sent over HTTP to a service on a virtual clock,
//! and after every step each connector's status, reasons and history must be what the
//! independent model says (`service/lifecycle/src/model_rules.rs`, included here as it is: it
//! never calls the crate's rules, so a rule broken in the crate cannot agree with itself).
//!
//! A failing sequence is shrunk by proptest and written as a scenario file under
//! `target/test-artifacts/service-props/`, with literal instants and the model's literal
//! statuses, reasons and histories; the panic message names the file and the `intune-mock run`
//! command that replays it (docs/behaviour.md, "Scenarios").
//!
//! The connectors act only when told: in the scenario file each one is stopped right after its
//! installation and again before each check-in, so that, as here, a check-in claims no presence
//! before itself and no health message is ever sent. `PROPTEST_CASES` raises the case count
//! (64 by default, for CI).

mod driver;
#[path = "../../service/lifecycle/src/model_rules.rs"]
mod model_rules;
mod scenario_file;

use chrono::{DateTime, Duration, Utc};
use lifecycle::{
    Catalog, ConnectorFacts, Feature, FeatureSet, Operation, Product, ReasonCode, Refusal, Status,
    TenantFacts, Version,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use crate::support::{at, intune_mock};
use driver::Driver;
use model_rules::{model, model_marks, model_refusal, months_later, Answer};

/// Machines a connector can be installed on: the fleet stays small.
const MACHINES: u8 = 3;
/// The Intune Connector for Active Directory, the one co-installed product with a reason.
const AD_CONNECTOR: &str = "intune-connector-for-active-directory";
const LEGACY: [&str; 2] = ["6.2008.60.607", "6.2008.60.612"];
const PRODUCTS: [Product; 3] = [
    Product::CertificateConnector,
    Product::PfxCertificateConnector,
    Product::IntuneConnector,
];

/// An action before it meets a state: indexes and offsets that [`Model::resolve`] turns into a
/// [`Step`] with literal versions and instants (or into nothing when it does not apply, e.g. a
/// check-in on an empty machine), so that shrinking keeps every sequence meaningful.
#[derive(Debug, Clone)]
pub enum Action {
    /// A release above the newest (`pick` past the end) or just above the `pick`-th release,
    /// dated now or `days` later.
    Publish {
        pick: u8,
        days: u16,
    },
    /// On machine `machine`, the `version`-th version of the pool (legacy ones, every release
    /// and the revision after each), of the `product`-th product, with or without the AD
    /// connector beside it.
    Install {
        machine: u8,
        version: u8,
        product: u8,
        ad: bool,
    },
    Reconfigure {
        machine: u8,
        ad: bool,
    },
    Uninstall {
        machine: u8,
    },
    Checkin {
        machine: u8,
    },
    Jump(Jump),
}

/// How far the clock jumps.
#[derive(Debug, Clone)]
pub enum Jump {
    Seconds(u32),
    Days(u16),
    Months(u8),
    /// To one second before (-1), at (0) or after (1) the `nth` next boundary of the connector
    /// on `machine`, as the model lists them.
    Boundary {
        machine: u8,
        nth: u8,
        offset: i8,
    },
}

/// One generated case: where the clock starts, the tenant's rollout delay, the actions.
#[derive(Debug, Clone)]
pub struct Case {
    pub start: DateTime<Utc>,
    pub rollout_delay_days: u32,
    pub actions: Vec<Action>,
}

/// What is sent, with what the model expects the call to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Publish {
        version: Version,
        date: DateTime<Utc>,
    },
    Install {
        name: String,
        machine: String,
        version: Version,
        product: Product,
        ad: bool,
        refused: Option<Refusal>,
    },
    Reconfigure {
        name: String,
        ad: bool,
        refused: Option<Refusal>,
    },
    Uninstall {
        name: String,
    },
    Checkin {
        name: String,
        refused: Option<Refusal>,
    },
    At(DateTime<Utc>),
}

/// One history entry as the model records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub answer: Answer,
}

/// What the model expects of one installed connector after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub name: String,
    pub answer: Answer,
    pub history: Vec<Entry>,
}

/// A step and what every installed connector must show after it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub step: Step,
    pub after: Vec<Expected>,
}

#[derive(Debug, Clone)]
struct Installed {
    name: String,
    facts: ConnectorFacts,
    history: Vec<Entry>,
    /// How many entries the service has already recorded for good: everything before this step
    /// (each step ends with the status and history read back).
    sealed: usize,
}

/// The model's world: the clock, the published releases and the machines. Every fact changes
/// only at a step's instant; between steps only the clock moves.
#[derive(Debug, Clone)]
pub struct Model {
    now: DateTime<Utc>,
    rollout_delay_days: u32,
    published: Vec<(Version, DateTime<Utc>)>,
    machines: Vec<Option<Installed>>,
    installs: u32,
}

impl Model {
    fn new(case: &Case) -> Self {
        Model {
            now: case.start,
            rollout_delay_days: case.rollout_delay_days,
            published: Vec::new(),
            machines: vec![None; MACHINES as usize],
            installs: 0,
        }
    }

    fn catalog(&self) -> Catalog {
        Catalog::shipped().with_published(self.published.iter().copied())
    }

    fn tenant(&self) -> TenantFacts {
        TenantFacts {
            rollout_delay_days: self.rollout_delay_days,
            import_key_thumbprint: None,
            newest_connector_version: self.installed().map(|c| c.facts.version).max(),
        }
    }

    fn installed(&self) -> impl Iterator<Item = &Installed> {
        self.machines.iter().flatten()
    }

    /// Every connector's status as of now, recorded in its history.
    fn record_now(&mut self) {
        let (tenant, catalog, now) = (self.tenant(), self.catalog(), self.now);
        for c in self.machines.iter_mut().flatten() {
            let answer = model(&c.facts, &tenant, &catalog, now);
            push(c, now, answer);
        }
    }

    /// The clock moves to `to`: each change on the way lands in the history at its instant.
    fn advance(&mut self, to: DateTime<Utc>) {
        let (tenant, catalog, from) = (self.tenant(), self.catalog(), self.now);
        for c in self.machines.iter_mut().flatten() {
            for mark in model_marks(&c.facts, &tenant, &catalog) {
                if mark > from && mark <= to {
                    let answer = model(&c.facts, &tenant, &catalog, mark);
                    push(c, mark, answer);
                }
            }
        }
        self.now = to;
    }

    /// What every connector shows after a step; what it shows is recorded for good.
    fn expected(&mut self) -> Vec<Expected> {
        for c in self.machines.iter_mut().flatten() {
            c.sealed = c.history.len();
        }
        let (tenant, catalog) = (self.tenant(), self.catalog());
        self.installed()
            .map(|c| Expected {
                name: c.name.clone(),
                answer: model(&c.facts, &tenant, &catalog, self.now),
                history: c.history.clone(),
            })
            .collect()
    }

    fn refusal(&self, facts: &ConnectorFacts, operation: Operation) -> Option<Refusal> {
        model_refusal(&self.catalog(), facts, operation, self.now)
    }

    /// The installable versions: the legacy ones, every release and the revision after each.
    fn pool(&self) -> Vec<Version> {
        let mut pool: Vec<Version> = LEGACY.iter().map(|v| version(v)).collect();
        for r in self.catalog().releases() {
            let [a, b, c, d] = r.version.parts();
            pool.extend([r.version, Version::new(a, b, c, d + 1)]);
        }
        pool
    }

    /// The step `action` stands for now, applied to the model; `None` when it does not apply.
    fn resolve(&mut self, action: &Action) -> Option<Step> {
        let step = match action {
            Action::Publish { pick, days } => {
                let catalog = self.catalog();
                let releases = catalog.releases();
                let i = *pick as usize % (releases.len() + 1);
                let mut next = match releases.get(i) {
                    Some(r) => {
                        let [a, b, c, d] = r.version.parts();
                        Version::new(a, b, c, d + 1)
                    }
                    None => {
                        let [a, b, _, _] = releases.last()?.version.parts();
                        Version::new(a, b + 1, 0, 0)
                    }
                };
                while catalog.release_date(next).is_some() {
                    let [a, b, c, d] = next.parts();
                    next = Version::new(a, b, c, d + 1);
                }
                let date = self.now + Duration::days(i64::from(*days));
                self.published.push((next, date));
                Step::Publish {
                    version: next,
                    date,
                }
            }
            Action::Install {
                machine,
                version,
                product,
                ad,
            } => {
                let slot = *machine as usize % MACHINES as usize;
                if self.machines[slot].is_some() {
                    return None;
                }
                let pool = self.pool();
                let v = pool[*version as usize % pool.len()];
                let product = PRODUCTS[*product as usize % PRODUCTS.len()];
                self.installs += 1;
                let name = format!("c{}", self.installs);
                let mut facts = ConnectorFacts {
                    version: v,
                    product,
                    features: FeatureSet::of(Feature::Pkcs),
                    import_key_thumbprint: None,
                    co_installed: if *ad {
                        vec![AD_CONNECTOR.into()]
                    } else {
                        vec![]
                    },
                    enrolled: self.now,
                    last_checkin: None,
                    last_health: None,
                };
                let refused = self.refusal(&facts, Operation::Checkin);
                if refused.is_none() {
                    // The connector checks in once right after its installation.
                    facts.last_checkin = Some(self.now);
                    self.machines[slot] = Some(Installed {
                        name: name.clone(),
                        facts,
                        history: vec![],
                        sealed: 0,
                    });
                }
                Step::Install {
                    name,
                    machine: format!("SRV-{}", slot + 1),
                    version: v,
                    product,
                    ad: *ad,
                    refused,
                }
            }
            Action::Reconfigure { machine, ad } => {
                let slot = *machine as usize % MACHINES as usize;
                let facts = self.machines[slot].as_ref()?.facts.clone();
                let refused = self.refusal(&facts, Operation::Reconfigure);
                let c = self.machines[slot].as_mut()?;
                if refused.is_none() {
                    c.facts.co_installed = if *ad {
                        vec![AD_CONNECTOR.into()]
                    } else {
                        vec![]
                    };
                }
                Step::Reconfigure {
                    name: c.name.clone(),
                    ad: *ad,
                    refused,
                }
            }
            Action::Uninstall { machine } => {
                let slot = *machine as usize % MACHINES as usize;
                let c = self.machines[slot].take()?;
                Step::Uninstall { name: c.name }
            }
            Action::Checkin { machine } => {
                let slot = *machine as usize % MACHINES as usize;
                let facts = self.machines[slot].as_ref()?.facts.clone();
                let refused = self.refusal(&facts, Operation::Checkin);
                let now = self.now;
                let c = self.machines[slot].as_mut()?;
                if refused.is_none() {
                    c.facts.last_checkin = Some(now);
                }
                Step::Checkin {
                    name: c.name.clone(),
                    refused,
                }
            }
            Action::Jump(jump) => {
                let to = self.jump_target(jump)?;
                self.advance(to);
                return Some(Step::At(to));
            }
        };
        self.record_now();
        Some(step)
    }

    fn jump_target(&self, jump: &Jump) -> Option<DateTime<Utc>> {
        let to = match jump {
            Jump::Seconds(s) => self.now + Duration::seconds(i64::from(*s)),
            Jump::Days(d) => self.now + Duration::days(i64::from(*d)),
            Jump::Months(m) => months_later(self.now, u32::from(*m)),
            Jump::Boundary {
                machine,
                nth,
                offset,
            } => {
                let slot = *machine as usize % MACHINES as usize;
                let c = self.machines[slot].as_ref()?;
                let marks: Vec<DateTime<Utc>> =
                    model_marks(&c.facts, &self.tenant(), &self.catalog())
                        .into_iter()
                        .filter(|m| *m > self.now)
                        .collect();
                let mark = marks.get(*nth as usize % marks.len().max(1))?;
                *mark + Duration::seconds(i64::from(*offset))
            }
        };
        (to > self.now).then_some(to)
    }
}

/// Records `answer` at `at`: an unchanged state is no entry, and two changes at one instant are
/// one entry (the later state) unless the first was already recorded for good, read back after
/// an earlier step at the same instant: then both stay, in order (docs/behaviour.md, "Releases
/// and the version lifecycle").
fn push(c: &mut Installed, at: DateTime<Utc>, answer: Answer) {
    let history = &mut c.history;
    if history.len() > c.sealed && history.last().is_some_and(|e| e.at == at) {
        history.pop();
    }
    if history.last().is_none_or(|e| e.answer != answer) {
        history.push(Entry { at, answer });
    }
}

/// The case's steps, each with what the model expects after it.
pub fn resolve(case: &Case) -> Vec<Resolved> {
    let mut model = Model::new(case);
    let mut out = Vec::new();
    for action in &case.actions {
        if let Some(step) = model.resolve(action) {
            out.push(Resolved {
                step,
                after: model.expected(),
            });
        }
    }
    out
}

fn version(text: &str) -> Version {
    Version::parse(text).expect("a literal version")
}

/// Interesting starts: before 6.2109.51.0, the last second before the legacy Error date, the
/// docs' worked example, mid-2023, the 2025 releases, after the newest shipped release.
fn starts() -> Vec<DateTime<Utc>> {
    [
        "2021-09-22T12:00:00Z",
        "2022-03-31T23:59:59Z",
        "2022-05-01T00:00:00Z",
        "2023-06-01T00:00:00Z",
        "2025-06-11T00:00:00Z",
        "2026-03-01T00:00:00Z",
    ]
    .into_iter()
    .map(at)
    .collect()
}

fn machine() -> impl Strategy<Value = u8> {
    0..MACHINES
}

fn jump() -> impl Strategy<Value = Jump> {
    prop_oneof![
        1 => (1..7_200u32).prop_map(Jump::Seconds),
        1 => (1..90u16).prop_map(Jump::Days),
        1 => (1..20u8).prop_map(Jump::Months),
        4 => (machine(), 0..4u8, -1..=1i8)
            .prop_map(|(machine, nth, offset)| Jump::Boundary { machine, nth, offset }),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => (any::<u8>(), prop_oneof![Just(0u16), 1..400u16])
            .prop_map(|(pick, days)| Action::Publish { pick, days }),
        4 => (machine(), any::<u8>(), 0..3u8, proptest::bool::weighted(0.2))
            .prop_map(|(machine, version, product, ad)| Action::Install { machine, version, product, ad }),
        1 => (machine(), any::<bool>()).prop_map(|(machine, ad)| Action::Reconfigure { machine, ad }),
        1 => machine().prop_map(|machine| Action::Uninstall { machine }),
        2 => machine().prop_map(|machine| Action::Checkin { machine }),
        5 => jump().prop_map(Action::Jump),
    ]
}

/// One to 12 actions. Installs are frequent enough that nearly every case has a connector to
/// watch; none is forced, so that shrinking can drop every action the failure does not need.
fn case() -> impl Strategy<Value = Case> {
    (
        proptest::sample::select(starts()),
        proptest::sample::select(vec![0u32, 7, 30]),
        proptest::collection::vec(action(), 1..=12),
    )
        .prop_map(|(start, rollout_delay_days, actions)| Case {
            start,
            rollout_delay_days,
            actions,
        })
}

pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A status and its reason codes as the wire spells them.
pub fn answer_text(answer: &Answer) -> (String, Vec<String>) {
    let (status, reasons): &(Status, Vec<ReasonCode>) = answer;
    (
        status.as_str().to_owned(),
        reasons.iter().map(|r| r.as_str().to_owned()).collect(),
    )
}

/// Runs one case against a fresh service: `Err` names the first step where the service and the
/// model part.
async fn run_case(case: &Case) -> Result<(), String> {
    let mut driver = Driver::start(case).await?;
    for (k, r) in resolve(case).iter().enumerate() {
        let at = stamp(driver.app.now());
        driver
            .send(&r.step)
            .await
            .and(driver.compare(&r.after).await)
            .map_err(|e| format!("step {} ({:?}) from {at}: {e}", k + 1, r.step))?;
    }
    Ok(())
}

/// The property over `cases` cases; on failure the shrunk case is written as a scenario file
/// and the panic names it.
fn check_the_service(cases: u32) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |c| {
        runtime.block_on(run_case(&c)).map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, shrunk)) => {
            let steps = resolve(&shrunk);
            let file = scenario_file::write(&shrunk, &steps);
            let listed: Vec<String> = steps.iter().map(|r| format!("  {:?}", r.step)).collect();
            panic!(
                "the service and the model disagree: {why}\nshrunk to {} steps:\n{}\nreplay: intune-mock run {}",
                steps.len(),
                listed.join("\n"),
                file.display()
            );
        }
        Err(TestError::Abort(why)) => panic!("the property aborted: {why}"),
    }
}

/// How many cases: `PROPTEST_CASES`, or 64.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

#[test]
fn the_service_agrees_with_the_model_over_random_action_sequences() {
    check_the_service(cases());
}

/// A fixed sequence that touches every step kind: the docs' worked example (6.2202.38.0 against
/// 6.2203.12.0) with a newer connector beside it, a release published at run time, the AD
/// connector, check-ins, an uninstall, and the retirement refusing check-in and reconfigure.
fn fixed_case() -> Case {
    use Action::*;
    let start = at("2022-05-01T00:00:00Z");
    let mut case = Case {
        start,
        rollout_delay_days: 7,
        actions: vec![],
    };
    let pool = Model::new(&case).pool();
    let index = |v: &str| {
        let i = pool
            .iter()
            .position(|p| *p == version(v))
            .expect("in the pool");
        u8::try_from(i).expect("a small pool")
    };
    case.actions = vec![
        Install {
            machine: 0,
            version: index("6.2202.38.0"),
            product: 0,
            ad: false,
        },
        Jump(self::Jump::Boundary {
            machine: 0,
            nth: 1,
            offset: -1,
        }),
        Checkin { machine: 0 },
        Jump(self::Jump::Boundary {
            machine: 0,
            nth: 0,
            offset: 0,
        }),
        Install {
            machine: 1,
            version: index("6.2203.12.0"),
            product: 0,
            ad: true,
        },
        Reconfigure {
            machine: 1,
            ad: false,
        },
        Publish {
            pick: 255,
            days: 30,
        },
        Jump(self::Jump::Months(7)),
        Uninstall { machine: 1 },
        Checkin { machine: 0 },
        Jump(self::Jump::Seconds(3_600)),
        Jump(self::Jump::Months(12)),
        Checkin { machine: 0 },
        Reconfigure {
            machine: 0,
            ad: true,
        },
        Install {
            machine: 2,
            version: index("6.2008.60.607"),
            product: 1,
            ad: false,
        },
    ];
    case
}

#[test]
fn a_fixed_sequence_agrees_with_the_model_and_its_scenario_file_replays_green_with_the_binary() {
    let case = fixed_case();
    let steps = resolve(&case);
    assert!(steps.len() >= 10, "{steps:#?}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    if let Err(e) = runtime.block_on(run_case(&case)) {
        panic!("{e}");
    }
    let file = scenario_file::write(&case, &steps);
    let text = std::fs::read_to_string(&file).unwrap();
    // The docs' worked example, literally: out of support on 2022-11-04, retired on 2023-11-04
    // (then refused), and a legacy connector of a replaced product an error.
    for line in [
        r#"  { at = "2022-11-04T00:00:00Z", status = "error", reasons = ["VersionOutOfSupport", "Inactive", "VersionSkew", "AutoUpdateBlocked"] },"#,
        r#"  { at = "2023-11-04T00:00:00Z", status = "error", reasons = ["VersionRetired", "Inactive", "AutoUpdateBlocked"] },"#,
        r#"expect_http = { connector = "c1", call = "checkin", status = 403, code = "ConnectorVersionRetired" }"#,
        r#"reconfigure = { connector = "c1", co_installed = ["intune-connector-for-active-directory"], expect_error = "ConnectorVersionRetired" }"#,
        r#"expect_status = { connector = "c3", status = "error", reasons = ["LegacyVersion", "ProductReplaced", "VersionSkew", "AutoUpdateBlocked"] }"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line}\nnot in {}",
            file.display()
        );
    }
    let (code, out, err) = intune_mock(&["run", file.to_str().expect("a UTF-8 path")]);
    assert_eq!(code, 0, "intune-mock run {}\n{out}\n{err}", file.display());
    assert!(out.contains("passed  55/55"), "{out}");
}
