//! The human table of `reev query`: aligned columns, numbers right-aligned and rounded for
//! reading, and control characters in text shown as escapes so every row stays on one line.
//!
//! DuckDB's own box renderer (the `duckdb` CLI) casts every value to VARCHAR, right-aligns
//! numeric columns and shows control characters as escapes (`\n`, `\t`, `\r`, `\e`; see its
//! `ConvertRenderValue`); it prints DOUBLE as the shortest round-trip text, float noise
//! included (`292.20000000000005`). This table follows DuckDB for alignment, escapes, NULL
//! and exact DECIMAL and integer text, but rounds DOUBLE and FLOAT to 6 decimals for reading;
//! `--format csv` and `--format json` keep every digit.

use std::borrow::Cow;
use std::io::Write;

use duckdb::types::Value;

use super::cell::text;
use super::RowWriter;

/// Cells wider than this are cut with an ellipsis.
const MAX_WIDTH: usize = 60;

pub struct TableOut<W: Write> {
    w: W,
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

/// One rendered cell: its text and whether it is a number (numbers align right).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub numeric: bool,
}

impl<W: Write> TableOut<W> {
    pub fn new(w: W) -> Self {
        TableOut {
            w,
            columns: Vec::new(),
            rows: Vec::new(),
        }
    }
}

impl<W: Write> RowWriter for TableOut<W> {
    fn header(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.columns = columns.iter().map(|c| escape_control(c).into()).collect();
        Ok(())
    }

    fn row(&mut self, values: &[Value]) -> std::io::Result<()> {
        self.rows.push(values.iter().map(cell).collect());
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        render(&mut self.w, &self.columns, &self.rows)?;
        self.w.flush()
    }
}

/// Header, a dashed rule, the rows and a row count; columns two spaces apart.
fn render(out: &mut impl Write, columns: &[String], rows: &[Vec<Cell>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = columns.iter().map(|n| width(n)).collect();
    // A column is numeric when every non-NULL cell in it is a number.
    let mut numeric: Vec<bool> = vec![true; columns.len()];
    let mut any_number: Vec<bool> = vec![false; columns.len()];
    for row in rows {
        for (i, c) in row.iter().enumerate().take(columns.len()) {
            widths[i] = widths[i].max(width(&c.text));
            if c.numeric {
                any_number[i] = true;
            } else if c.text != "NULL" {
                numeric[i] = false;
            }
        }
    }
    let right: Vec<bool> = numeric
        .iter()
        .zip(&any_number)
        .map(|(n, a)| *n && *a)
        .collect();
    let header: Vec<&str> = columns.iter().map(String::as_str).collect();
    line(out, &header, &widths, &right)?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(out, "{}", rule.join("  "))?;
    for row in rows {
        let texts: Vec<&str> = row.iter().map(|c| c.text.as_str()).collect();
        line(out, &texts, &widths, &right)?;
    }
    let n = rows.len();
    writeln!(out, "({n} row{})", if n == 1 { "" } else { "s" })
}

fn line(
    out: &mut impl Write,
    cells: &[&str],
    widths: &[usize],
    right: &[bool],
) -> std::io::Result<()> {
    let parts: Vec<String> = cells
        .iter()
        .zip(widths.iter().zip(right))
        .map(|(c, (w, r))| {
            let c = truncate(c);
            if *r {
                format!("{c:>w$}")
            } else {
                format!("{c:<w$}")
            }
        })
        .collect();
    writeln!(out, "{}", parts.join("  ").trim_end())
}

fn width(s: &str) -> usize {
    s.chars().count().min(MAX_WIDTH)
}

fn truncate(s: &str) -> Cow<'_, str> {
    if s.chars().count() > MAX_WIDTH {
        s.chars().take(MAX_WIDTH - 1).chain(['…']).collect()
    } else {
        s.into()
    }
}

/// A value as a table cell: numbers for reading, text with its control characters escaped.
pub fn cell(v: &Value) -> Cell {
    let number = |text: String| Cell {
        text,
        numeric: true,
    };
    match v {
        Value::Double(x) => number(readable_double(*x)),
        Value::Float(x) => number(readable_double(f64::from(*x))),
        other if super::is_number(other) => number(text(other)),
        other => Cell {
            text: escape_control(&text(other)).into_owned(),
            numeric: false,
        },
    }
}

/// A DOUBLE for a person: at most 6 decimals, trailing zeros dropped but one kept
/// (`292.2`, `0.751282`, `2.0`); very large or very small magnitudes in scientific
/// notation with 6 significant digits (`1e20`, `1.23457e-7`); `inf`, `-inf`, `nan` as DuckDB.
pub fn readable_double(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return "0.0".into();
    }
    let a = x.abs();
    if !(1e-4..1e15).contains(&a) {
        let s = format!("{x:.5e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exp}");
    }
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0');
    let s = if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_string()
    };
    // Rounding can leave "-0.0" for a tiny negative number; it was not zero, but it reads as one.
    if s == "-0.0" {
        "0.0".into()
    } else {
        s
    }
}

/// Control characters as visible escapes, so a cell stays on its line and cannot drive the
/// terminal: newline `\n`, tab `\t`, carriage return `\r`, ESC `\e` (as DuckDB's CLI shows
/// them), other C0 controls and DEL as `\xNN`, C1 controls and bidirectional overrides as
/// `\u{NNNN}` (the same spelling as the terminal-safety escapes of `reev show`).
pub fn escape_control(s: &str) -> Cow<'_, str> {
    crate::term::visible_one_line(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_read_without_float_noise() {
        for (x, want) in [
            (292.20000000000005, "292.2"),
            (0.7512820512820514, "0.751282"),
            (0.1 + 0.2, "0.3"),
            (2.0, "2.0"),
            (-0.5, "-0.5"),
            (12345678.0, "12345678.0"),
            (1e20, "1e20"),
            (1.2345678e-7, "1.23457e-7"),
            (-1e-9, "-1e-9"),
            (0.0, "0.0"),
            (-0.0, "0.0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(readable_double(x), want, "{x:?}");
        }
    }

    #[test]
    fn control_characters_become_escapes() {
        assert_eq!(escape_control("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(escape_control("\x1b[31m"), "\\e[31m");
        assert_eq!(escape_control("\x01\x7f\u{9b}"), "\\x01\\x7f\\u{009b}");
        assert_eq!(escape_control("x\u{202e}y"), "x\\u{202e}y");
        assert!(matches!(escape_control("plain é"), Cow::Borrowed(_)));
    }
}
