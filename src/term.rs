//! Text from agents made safe to print on a terminal: control characters become visible.
//!
//! Agent output, events and file snippets reach `reev show` and `reev query` tables. Raw, an
//! ESC or OSC sequence there could set the window title, write the clipboard (OSC 52), clear
//! the screen or hide text. [`visible`] keeps newline and tab and shows every other control
//! character as an escape: ESC as `\e`, CR as `\r`, other C0 controls and DEL as `\xNN`, C1
//! controls (8-bit CSI and friends) and bidirectional overrides as `\u{NNNN}`.
//! [`visible_one_line`] also escapes newline and tab (`\n`, `\t`), for `reev query` tables.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Does `c` change what a terminal shows in a way the text does not say?
fn hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with control characters (except newline and tab) rendered visibly.
pub fn visible(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// `text` on one line: like [`visible`], and newline and tab as `\n` and `\t` too (for
/// table cells).
pub fn visible_one_line(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

fn escape(text: &str, keep_lines: bool) -> Cow<'_, str> {
    let kept = |c: char| keep_lines && (c == '\n' || c == '\t');
    if !text.chars().any(|c| hidden(c) && !kept(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if kept(c) || !hidden(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{visible, visible_one_line};

    #[test]
    fn controls_become_visible_but_newline_and_tab_stay() {
        assert_eq!(visible("plain ✓ text\n\tok"), "plain ✓ text\n\tok");
        assert_eq!(
            visible("\u{1b}]0;pwned\u{7}\u{1b}[2J"),
            "\\e]0;pwned\\x07\\e[2J"
        );
        assert_eq!(visible("a\rb\u{7f}\u{9b}31m"), "a\\rb\\x7f\\u{009b}31m");
        assert_eq!(visible("x\u{202e}y"), "x\\u{202e}y");
        assert!(!visible("\u{1b}]52;c;aGk=\u{7}").contains('\u{1b}'));
        assert_eq!(visible_one_line("a\nb\tc\u{1b}"), "a\\nb\\tc\\e");
    }
}
