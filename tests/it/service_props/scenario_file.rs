//! A resolved action sequence as a scenario file for `intune-mock run`: literal instants, and
//! after every step each installed connector's status, reasons and (when it grew) history as
//! the model gives them. Connectors are stopped after installation and before each check-in, so
//! that they act only when a step says so, as in the property.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{answer_text, stamp, Case, Resolved, Step};

/// The file's text.
pub fn text(case: &Case, steps: &[Resolved]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by the service-level property (tests/it/service_props.rs): a sequence of actions\n\
         # with what the independent lifecycle model expects after each step, written literally.\n\
         name = \"service-props\"\n\
         description = \"{} steps, every status and history as the model has them\"\n\
         seed = 7\n\
         start = \"{}\"\n\n\
         [[tenant]]\n\
         name = \"contoso\"\n\
         rollout_delay_days = {}",
        steps.len(),
        stamp(case.start),
        case.rollout_delay_days
    );
    let mut shown: Vec<(String, usize)> = Vec::new();
    for (k, r) in steps.iter().enumerate() {
        let _ = writeln!(out, "\n# step {}", k + 1);
        write_step(&mut out, &r.step);
        for e in &r.after {
            let (status, reasons) = answer_text(&e.answer);
            let _ = writeln!(
                out,
                "\n[[step]]\nexpect_status = {{ connector = \"{}\", status = \"{status}\", reasons = {} }}",
                e.name,
                list(&reasons)
            );
            let before = shown
                .iter()
                .find(|(n, _)| *n == e.name)
                .map(|(_, len)| *len);
            if before != Some(e.history.len()) {
                let _ = writeln!(
                    out,
                    "\n[[step]]\n[step.expect_history]\nconnector = \"{}\"\nentries = [",
                    e.name
                );
                for h in &e.history {
                    let (status, reasons) = answer_text(&h.answer);
                    let _ = writeln!(
                        out,
                        "  {{ at = \"{}\", status = \"{status}\", reasons = {} }},",
                        stamp(h.at),
                        list(&reasons)
                    );
                }
                out.push_str("]\n");
                shown.retain(|(n, _)| *n != e.name);
                shown.push((e.name.clone(), e.history.len()));
            }
        }
    }
    out
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

fn step(out: &mut String, body: String) {
    let _ = writeln!(out, "[[step]]\n{body}");
}

fn expect_error(refused: &Option<lifecycle::Refusal>) -> String {
    refused
        .map(|r| format!(", expect_error = \"{}\"", r.code()))
        .unwrap_or_default()
}

fn write_step(out: &mut String, s: &Step) {
    match s {
        Step::Publish { version, date } => step(
            out,
            format!(
                "publish_release = {{ version = \"{version}\", date = \"{}\" }}",
                stamp(*date)
            ),
        ),
        Step::Install {
            name,
            machine,
            version,
            product,
            ad,
            refused,
        } => {
            let co = if *ad {
                format!(", co_installed = [\"{}\"]", super::AD_CONNECTOR)
            } else {
                String::new()
            };
            step(
                out,
                format!(
                    "install = {{ name = \"{name}\", tenant = \"contoso\", machine = \"{machine}\", features = [\"pkcs\"], version = \"{version}\", product = \"{}\", auto_update = false{co}{} }}",
                    product.as_str(),
                    expect_error(refused)
                ),
            );
            if refused.is_none() {
                step(
                    out,
                    format!("note = \"it acts only when a step says so\"\nstop = \"{name}\""),
                );
            }
        }
        Step::Reconfigure { name, ad, refused } => {
            let co = if *ad {
                format!("[\"{}\"]", super::AD_CONNECTOR)
            } else {
                "[]".to_owned()
            };
            step(
                out,
                format!(
                    "reconfigure = {{ connector = \"{name}\", co_installed = {co}{} }}",
                    expect_error(refused)
                ),
            )
        }
        Step::Uninstall { name } => step(out, format!("uninstall = \"{name}\"")),
        Step::Checkin { name, refused } => {
            // Stopped again: the check-in claims no presence before itself.
            step(out, format!("stop = \"{name}\""));
            let answer = match refused {
                Some(r) => format!("status = 403, code = \"{}\"", r.code()),
                None => "status = 200".to_owned(),
            };
            step(
                out,
                format!("expect_http = {{ connector = \"{name}\", call = \"checkin\", {answer} }}"),
            )
        }
        Step::At(t) => step(out, format!("at = \"{}\"", stamp(*t))),
    }
}

/// `target/test-artifacts/service-props/` of the workspace.
fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .join("target")
        .join("test-artifacts")
        .join("service-props")
}

/// Writes the file (named by a hash of its text, so reruns do not pile up copies) and returns
/// its path.
pub fn write(case: &Case, steps: &[Resolved]) -> PathBuf {
    let body = text(case, steps);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let dir = dir();
    std::fs::create_dir_all(&dir).expect("the artifacts folder");
    let path = dir.join(format!("case-{hash:016x}.toml"));
    std::fs::write(&path, body).expect("the scenario file is written");
    path
}
