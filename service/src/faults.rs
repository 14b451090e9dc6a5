//! Fault injection: operator rules that make matching requests fail (an HTTP status, with
//! `Retry-After` for 429/503), wait first (a delay) or lose their connection (a drop). A rule
//! matches a path fragment and, if it names them, only the calls of one tenant or one connector.
//! It runs out after `count` hits or at a virtual instant; `probability` draws from a generator
//! seeded like the service's ids, so the same seed and the same requests hit the same way.
//! Operator routes are never hit.

use std::sync::Mutex;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// What a hit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Answer this status (a JSON error `InjectedFault`), `Retry-After` seconds if set.
    Status {
        status: u16,
        retry_after: Option<u32>,
    },
    /// Wait this long, then serve the request normally.
    Delay { ms: u64 },
    /// Close the connection without an answer (the request is not served).
    Drop,
}

/// Who makes a request, as far as its credential tells (a connector credential names both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: String,
    pub connector_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    /// A path fragment, matched case-insensitively; `*` matches every non-operator path.
    pub route: String,
    /// Only calls made with a credential of this tenant (a connector's, a Graph token, the
    /// enrollment secret).
    pub tenant: Option<String>,
    /// Only calls made with this connector's credential.
    pub connector: Option<String>,
    pub effect: Effect,
    pub remaining: Option<u32>,
    /// Virtual milliseconds after which the rule is gone.
    pub until_ms: Option<i64>,
    pub probability: Option<f64>,
    pub hits: u64,
}

impl Rule {
    /// Neither spent nor past its end; a rule that is not is dropped.
    fn in_force(&self, now_ms: i64) -> bool {
        self.until_ms.is_none_or(|u| now_ms < u) && self.remaining != Some(0)
    }

    /// Whether the rule names a caller (then it matches only calls whose credential says who).
    fn names_caller(&self) -> bool {
        self.tenant.is_some() || self.connector.is_some()
    }

    fn matches(&self, lower_path: &str, caller: Option<&Caller>) -> bool {
        if self.route != "*" && !lower_path.contains(&self.route.to_ascii_lowercase()) {
            return false;
        }
        if !self.names_caller() {
            return true;
        }
        let Some(caller) = caller else { return false };
        self.tenant.as_ref().is_none_or(|t| *t == caller.tenant_id)
            && self
                .connector
                .as_ref()
                .is_none_or(|c| caller.connector_id.as_ref() == Some(c))
    }
}

/// Why a rule cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: &'static str,
    pub message: String,
}

/// The most rules kept at once.
pub const MAX_RULES: usize = 100;

#[derive(Debug)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
    rng: Mutex<SmallRng>,
}

/// Paths no rule touches: the operator API and the probes.
pub fn exempt(path: &str) -> bool {
    path.starts_with("/admin") || path == "/healthz" || path == "/readyz"
}

impl Faults {
    pub fn new(seed: u64) -> Faults {
        Faults {
            rules: Mutex::new(Vec::new()),
            rng: Mutex::new(SmallRng::seed_from_u64(seed ^ 0xFA17)),
        }
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks and adds a rule.
    pub fn add(&self, rule: Rule) -> Result<Rule, RuleError> {
        let err = |field, message: &str| RuleError {
            field,
            message: message.to_owned(),
        };
        let route = rule.route.trim();
        if route.is_empty() || route.len() > 256 {
            return Err(err(
                "route",
                "must hold 1 to 256 characters (a path fragment or `*`)",
            ));
        }
        if exempt(route) {
            return Err(err("route", "operator routes and probes cannot be faulted"));
        }
        match rule.effect {
            Effect::Status { status, .. } if !(400..=599).contains(&status) => {
                return Err(err(
                    "status",
                    "must be an HTTP error status from 400 to 599",
                ))
            }
            Effect::Delay { ms } if ms == 0 || ms > 60_000 => {
                return Err(err("delayMs", "must be from 1 to 60000"))
            }
            _ => {}
        }
        if rule.remaining == Some(0) {
            return Err(err("count", "must be at least 1"));
        }
        if rule.probability.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(err("probability", "must be more than 0 and at most 1"));
        }
        let mut rules = self.rules();
        rules.retain(|r| r.remaining != Some(0));
        if rules.len() >= MAX_RULES {
            return Err(err(
                "route",
                "at most 100 fault rules at once; clear some first",
            ));
        }
        let rule = Rule {
            route: route.to_owned(),
            ..rule
        };
        rules.push(rule.clone());
        Ok(rule)
    }

    /// The rules still in force at `now_ms`.
    pub fn list(&self, now_ms: i64) -> Vec<Rule> {
        let mut rules = self.rules();
        rules.retain(|r| r.in_force(now_ms));
        rules.clone()
    }

    /// Removes every rule; answers how many there were.
    pub fn clear(&self) -> usize {
        let mut rules = self.rules();
        let n = rules.len();
        rules.clear();
        n
    }

    /// Removes one rule; false when there is none with that id.
    pub fn remove(&self, id: &str) -> bool {
        let mut rules = self.rules();
        let before = rules.len();
        rules.retain(|r| r.id != id);
        rules.len() != before
    }

    /// Whether a rule in force names a tenant or a connector: only then must the caller of a
    /// request be looked up.
    pub fn needs_caller(&self, now_ms: i64) -> bool {
        self.rules()
            .iter()
            .any(|r| r.in_force(now_ms) && r.names_caller())
    }

    /// What happens to a request for `path` by `caller` at `now_ms`: the first matching rule in
    /// force that the draw picks (a hit uses up one of its count).
    pub fn decide(&self, path: &str, caller: Option<&Caller>, now_ms: i64) -> Option<Effect> {
        if exempt(path) {
            return None;
        }
        let mut rules = self.rules();
        rules.retain(|r| r.in_force(now_ms));
        if rules.is_empty() {
            return None;
        }
        let lower = path.to_ascii_lowercase();
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        for rule in rules.iter_mut() {
            if !rule.matches(&lower, caller) {
                continue;
            }
            if let Some(p) = rule.probability {
                if rng.gen::<f64>() >= p {
                    continue;
                }
            }
            rule.hits += 1;
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
            }
            return Some(rule.effect);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(route: &str, effect: Effect) -> Rule {
        Rule {
            id: "f-1".into(),
            route: route.into(),
            tenant: None,
            connector: None,
            effect,
            remaining: None,
            until_ms: None,
            probability: None,
            hits: 0,
        }
    }

    const E500: Effect = Effect::Status {
        status: 500,
        retry_after: None,
    };

    #[test]
    fn a_counted_rule_hits_that_many_matching_requests_and_no_operator_route() {
        let faults = Faults::new(1);
        faults
            .add(Rule {
                remaining: Some(2),
                ..rule("ScepActions/successNotification", E500)
            })
            .unwrap();
        assert_eq!(faults.decide("/admin/faults", None, 0), None);
        assert_eq!(faults.decide("/connector/v1/checkin", None, 0), None);
        let path = "/RACerts/x/ScepActions/SUCCESSNOTIFICATION";
        assert_eq!(faults.decide(path, None, 0), Some(E500));
        assert_eq!(faults.decide(path, None, 0), Some(E500));
        assert_eq!(faults.decide(path, None, 0), None);
        assert!(faults.list(0).is_empty());
    }

    #[test]
    fn a_timed_rule_ends_at_its_virtual_instant() {
        let faults = Faults::new(1);
        faults
            .add(Rule {
                until_ms: Some(3_600_000),
                ..rule("*", E500)
            })
            .unwrap();
        assert_eq!(
            faults.decide("/connector/v1/checkin", None, 3_599_999),
            Some(E500)
        );
        assert_eq!(
            faults.decide("/connector/v1/checkin", None, 3_600_000),
            None
        );
    }

    #[test]
    fn the_same_seed_draws_the_same_hits() {
        let draws = |seed| {
            let faults = Faults::new(seed);
            faults
                .add(Rule {
                    probability: Some(0.2),
                    ..rule("*", E500)
                })
                .unwrap();
            (0..1000)
                .map(|_| faults.decide("/connector/v1/jobs/lease", None, 0).is_some())
                .collect::<Vec<bool>>()
        };
        let first = draws(7);
        assert_eq!(first, draws(7));
        let hits = first.iter().filter(|h| **h).count();
        assert!((150..=250).contains(&hits), "{hits} of 1000");
    }

    #[test]
    fn a_rule_naming_a_tenant_or_connector_hits_only_their_calls() {
        let faults = Faults::new(1);
        faults
            .add(Rule {
                tenant: Some("t-a".into()),
                ..rule("*", E500)
            })
            .unwrap();
        faults
            .add(Rule {
                connector: Some("c-b1".into()),
                ..rule("jobs/lease", Effect::Drop)
            })
            .unwrap();
        assert!(faults.needs_caller(0));
        let a = Caller {
            tenant_id: "t-a".into(),
            connector_id: Some("c-a1".into()),
        };
        let b1 = Caller {
            tenant_id: "t-b".into(),
            connector_id: Some("c-b1".into()),
        };
        let b2 = Caller {
            tenant_id: "t-b".into(),
            connector_id: Some("c-b2".into()),
        };
        let lease = "/connector/v1/jobs/lease";
        assert_eq!(faults.decide(lease, Some(&a), 0), Some(E500));
        assert_eq!(faults.decide(lease, Some(&b1), 0), Some(Effect::Drop));
        assert_eq!(faults.decide(lease, Some(&b2), 0), None);
        assert_eq!(faults.decide("/connector/v1/checkin", Some(&b1), 0), None);
        // A request whose credential says nothing is hit by no rule that names a caller.
        assert_eq!(faults.decide(lease, None, 0), None);
    }

    #[test]
    fn bad_rules_are_refused_with_the_field() {
        let faults = Faults::new(1);
        let refused = |r: Rule| faults.add(r).unwrap_err().field;
        assert_eq!(refused(rule("", E500)), "route");
        assert_eq!(refused(rule("/admin/clock", E500)), "route");
        assert_eq!(
            refused(rule(
                "*",
                Effect::Status {
                    status: 200,
                    retry_after: None
                }
            )),
            "status"
        );
        assert_eq!(refused(rule("*", Effect::Delay { ms: 0 })), "delayMs");
        assert_eq!(
            refused(Rule {
                probability: Some(1.5),
                ..rule("*", E500)
            }),
            "probability"
        );
        assert!(faults.list(0).is_empty());
    }
}
