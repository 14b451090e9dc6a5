//! What `intune-mock` prints: aligned tables (coloured only on a terminal and never with
//! `NO_COLOR`), standard output that treats a closed pipe as a reader that has seen enough, and
//! errors with their cause chain.
//!
//! Not here: what the tables hold (`report` for a run, `cli` for `status`).

use std::ffi::OsStr;
use std::io::{IsTerminal, Write};

pub use anstyle::{AnsiColor, Style};

/// Whether output to a stream is coloured: only when it is a terminal, and never when `NO_COLOR`
/// holds a non-empty value (no-color.org: an empty `NO_COLOR` is as good as unset).
pub fn colour_wanted(is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// [`colour_wanted`] for this process's standard output and environment.
pub fn stdout_colour() -> bool {
    colour_wanted(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

pub const HEADER: Style = Style::new().bold();
pub const GOOD: Style = AnsiColor::Green.on_default();
pub const WARNING: Style = AnsiColor::Yellow.on_default();
pub const BAD: Style = AnsiColor::Red.on_default().bold();
pub const PLAIN: Style = Style::new();

/// A table of left-aligned columns two spaces apart; the first row is the header (bold in
/// colour). Widths are counted in characters of the text without its style, so coloured and
/// plain output line up alike.
#[derive(Debug, Clone, Default)]
pub struct Table {
    rows: Vec<Vec<(String, Style)>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| (h.to_string(), HEADER)).collect()],
        }
    }

    /// A row of plain cells.
    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        self.rows
            .push(cells.into_iter().map(|c| (c, PLAIN)).collect());
        self
    }

    /// A row whose cells each carry their style.
    pub fn styled_row(&mut self, cells: Vec<(String, Style)>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    pub fn render(&self, colour: bool) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|(text, _)| text.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, (text, style)) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(&paint(text, *style, colour));
                if i + 1 < row.len() {
                    let pad = widths[i].saturating_sub(text.chars().count());
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `text` in `style` when `colour` is on; `text` itself otherwise (and for an empty style).
pub fn paint(text: &str, style: Style, colour: bool) -> String {
    if colour && style != PLAIN && !text.is_empty() {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

/// Standard output for results. A reader that stops early (`intune-mock run | head -1`) closes the
/// pipe: that is not an error, so from then on every write succeeds and goes nowhere (Rust ignores
/// SIGPIPE, so `println!` would panic instead). Other write errors are returned.
#[derive(Debug, Default)]
pub struct Stdout {
    closed: bool,
}

impl Stdout {
    pub fn new() -> Self {
        Stdout::default()
    }

    /// Whether the reader has gone.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn absorb<T>(&mut self, result: std::io::Result<T>, done: T) -> std::io::Result<T> {
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(done)
            }
            other => other,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = std::io::stdout().write(buf);
        self.absorb(result, buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = std::io::stdout().flush();
        self.absorb(result, ())
    }
}

/// An error as `intune-mock` prints it on standard error: `error: ` and the outermost message,
/// then one `  caused by: ` line per cause. A cause whose text the line above already holds is
/// left out (some errors repeat their source in their own message), so nothing is said twice.
pub fn error_report(error: &anyhow::Error) -> String {
    let mut out = format!("error: {error}\n");
    let mut previous = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if text.is_empty() || previous.contains(&text) {
            continue;
        }
        out.push_str("  caused by: ");
        out.push_str(&text);
        out.push('\n');
        previous = text;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_a_non_empty_no_color() {
        let cases: [(bool, Option<&str>, bool); 6] = [
            (true, None, true),
            (true, Some(""), true),
            (true, Some("1"), false),
            (true, Some("false"), false),
            (false, None, false),
            (false, Some("1"), false),
        ];
        for (is_terminal, no_color, expected) in cases {
            assert_eq!(
                colour_wanted(is_terminal, no_color.map(OsStr::new)),
                expected,
                "is_terminal {is_terminal}, NO_COLOR {no_color:?}"
            );
        }
    }

    #[test]
    fn a_table_lines_up_the_same_with_and_without_colour() {
        let mut table = Table::new(&["NAME", "STATUS", "NOTE"]);
        table.styled_row(vec![
            ("old".into(), PLAIN),
            ("error".into(), BAD),
            ("-".into(), PLAIN),
        ]);
        table.row(vec!["a-longer-name".into(), "healthy".into(), "ok".into()]);
        let plain = table.render(false);
        assert_eq!(
            plain,
            "NAME           STATUS   NOTE\nold            error    -\na-longer-name  healthy  ok\n"
        );
        let coloured = table.render(true);
        assert_eq!(
            coloured,
            "\u{1b}[1mNAME\u{1b}[0m           \u{1b}[1mSTATUS\u{1b}[0m   \u{1b}[1mNOTE\u{1b}[0m\nold            \u{1b}[1m\u{1b}[31merror\u{1b}[0m    -\na-longer-name  healthy  ok\n"
        );
    }

    #[test]
    fn an_error_shows_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error = anyhow::Error::new(io)
            .context("tcp connect error: connection refused")
            .context("cannot ask http://127.0.0.1:1 for a token");
        assert_eq!(
            error_report(&error),
            "error: cannot ask http://127.0.0.1:1 for a token\n  caused by: tcp connect error: connection refused\n"
        );
    }
}
