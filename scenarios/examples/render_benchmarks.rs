//! Renders BENCHMARKS.md's current figures from the JSON the benches wrote under
//! `target/bench-figures/` (`support/record.rs` is the shape), with the commit each set ran on,
//! so that no figure in the file can be older than it says.
//!
//! `cargo run -p intune-mock-scenarios --example render_benchmarks` replaces the text between
//! the two marker lines of BENCHMARKS.md; `-- --print` writes the rendered text to stdout instead.
//! An example rather than a binary of the crate: it is a tool for this repository, not part of
//! what `intune-mock` ships, and it shares the benches' record module through `#[path]`.

use std::path::{Path, PathBuf};

#[path = "../benches/support/record.rs"]
mod record;

use record::{paired_ratios, spread, FigureRow, Figures, Spread};

const BEGIN: &str = "<!-- rendered from target/bench-figures by render_benchmarks: begin -->";
const END: &str = "<!-- rendered from target/bench-figures by render_benchmarks: end -->";
/// The order of the sections in the file; others follow by name.
const ORDER: [&str; 6] = ["queue", "crypto", "scep", "time", "suite", "memory"];

/// A number with thousands separators and `decimals` places.
fn number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Places that keep three significant digits for figures of this size.
fn places(value: f64) -> usize {
    match value.abs() {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    }
}

fn median_and_range(s: Spread, unit: &str, n: usize) -> String {
    let d = places(s.median);
    if n == 1 {
        return format!("{} {unit} (one run)", number(s.median, d));
    }
    format!(
        "**{}** {unit} ({}–{}, {n} runs)",
        number(s.median, d),
        number(s.min, d),
        number(s.max, d)
    )
}

fn percent(s: Spread) -> String {
    format!(
        "**{:.0} %** ({:.0}–{:.0} %)",
        100.0 * s.median,
        100.0 * s.min,
        100.0 * s.max
    )
}

fn row(r: &FigureRow) -> String {
    let figure = spread(&r.samples)
        .map(|s| median_and_range(s, &r.unit, r.samples.len()))
        .unwrap_or_else(|| "not measured".into());
    let mut against = Vec::new();
    let mut ratios = Vec::new();
    for b in &r.baselines {
        if let Some(s) = spread(&b.samples) {
            against.push(format!(
                "{}: {}",
                b.what,
                median_and_range(s, &r.unit, b.samples.len())
            ));
        }
        if let Some(s) = spread(&paired_ratios(&r.samples, &b.samples)) {
            ratios.push(percent(s));
        }
    }
    if let Some(t) = &r.target {
        let bound = if t.at_most { "at most" } else { "at least" };
        against.push(format!(
            "no baseline; {}: {bound} {} {}",
            t.what,
            number(t.value, places(t.value)),
            r.unit
        ));
        if let Some(s) = spread(&r.samples) {
            ratios.push(percent(Spread {
                median: s.median / t.value,
                min: s.min / t.value,
                max: s.max / t.value,
            }));
        }
    }
    let or_dash = |v: Vec<String>| {
        if v.is_empty() {
            "—".to_owned()
        } else {
            v.join("; ")
        }
    };
    format!(
        "| {} | {} | {} | {} |",
        r.what,
        figure,
        or_dash(against),
        or_dash(ratios)
    )
}

/// The rendered text for a set of sections, in [`ORDER`].
fn render(mut sets: Vec<Figures>) -> String {
    let rank = |f: &Figures| {
        ORDER
            .iter()
            .position(|o| *o == f.section)
            .unwrap_or(ORDER.len())
    };
    sets.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.section.cmp(&b.section)));
    let mut out = String::new();
    out.push_str("These tables are rendered from the JSON the benches write (`target/bench-figures/*.json`) by `cargo run -p intune-mock-scenarios --example render_benchmarks`; each names the commit its bench ran on. The figures were taken on a loaded 2-core machine shared with other sessions compiling: that is why service and baselines run interleaved, round by round, and why each figure is a median with its range. A ratio is the median of the round-by-round ratios (or, against a target, of the figure to the target).\n");
    for set in &sets {
        out.push_str(&format!(
            "\n### `{}` (commit {}; load average {} at the start, {} at the end)\n\n`{}`\n\n",
            set.section, set.commit, set.load[0], set.load[1], set.command
        ));
        for note in &set.notes {
            out.push_str(&format!("{note}\n"));
        }
        out.push_str("\n| What | Figure (median, range) | Compared with (same rounds) | Ratio |\n|------|------|------|------|\n");
        for r in &set.rows {
            out.push_str(&row(r));
            out.push('\n');
        }
    }
    out
}

fn read_all(dir: &Path) -> anyhow::Result<Vec<Figures>> {
    let mut sets = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)?;
            sets.push(
                serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            );
        }
    }
    Ok(sets)
}

/// `document` with the text between the markers replaced by `rendered`.
fn splice(document: &str, rendered: &str) -> anyhow::Result<String> {
    let begin = document
        .find(BEGIN)
        .ok_or_else(|| anyhow::anyhow!("BENCHMARKS.md has no line `{BEGIN}`"))?;
    let end = document
        .find(END)
        .filter(|end| *end > begin)
        .ok_or_else(|| anyhow::anyhow!("BENCHMARKS.md has no line `{END}` after the first"))?;
    Ok(format!(
        "{}{BEGIN}\n{rendered}{}",
        &document[..begin],
        &document[end..]
    ))
}

fn main() -> anyhow::Result<()> {
    let dir = record::figures_dir();
    let sets = read_all(&dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    anyhow::ensure!(
        !sets.is_empty(),
        "no figures in {}: run the benches first",
        dir.display()
    );
    let rendered = render(sets);
    if std::env::args().any(|a| a == "--print") {
        print!("{rendered}");
        return Ok(());
    }
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md");
    let document = std::fs::read_to_string(&path)?;
    std::fs::write(&path, splice(&document, &rendered)?)?;
    println!("{} rendered from {}", path.display(), dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use record::{Baseline, Target};

    #[test]
    fn a_row_shows_median_range_and_the_median_of_paired_ratios() {
        let r = FigureRow {
            what: "Queue".into(),
            unit: "jobs/s".into(),
            samples: vec![20_000.0, 24_000.0, 18_000.0],
            baselines: vec![Baseline {
                what: "sqlx".into(),
                samples: vec![40_000.0, 40_000.0, 45_000.0],
            }],
            target: None,
        };
        assert_eq!(
            row(&r),
            "| Queue | **20,000** jobs/s (18,000–24,000, 3 runs) | sqlx: **40,000** jobs/s (40,000–45,000, 3 runs) | **50 %** (40–60 %) |"
        );
    }

    #[test]
    fn a_target_is_never_called_a_baseline() {
        let r = FigureRow {
            what: "Time".into(),
            unit: "s".into(),
            samples: vec![24.0, 27.0],
            baselines: vec![],
            target: Some(Target {
                what: "the target".into(),
                value: 30.0,
                at_most: true,
            }),
        };
        assert_eq!(
            row(&r),
            "| Time | **25.5** s (24.0–27.0, 2 runs) | no baseline; the target: at most 30.0 s | **85 %** (80–90 %) |"
        );
    }

    #[test]
    fn the_text_between_the_markers_is_replaced_and_the_rest_kept() {
        let document = format!("# B\n\nintro\n{BEGIN}\nold figures\n{END}\nhistory\n");
        assert_eq!(
            splice(&document, "new\n").unwrap(),
            format!("# B\n\nintro\n{BEGIN}\nnew\n{END}\nhistory\n")
        );
        assert!(splice("# B\n", "new\n").is_err());
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(number(1_234_567.0, 0), "1,234,567");
        assert_eq!(number(999.0, 0), "999");
        assert_eq!(number(12.345, 2), "12.35");
    }
}
