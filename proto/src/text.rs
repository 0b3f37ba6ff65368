//! Free text that people read: the one rule for what a name, an address or a note may contain,
//! the documented length limits, and escaping for terminals. Used for what a clerk types and for
//! what a peer sends alike, so neither can store text that reads differently than it is stored.
//!
//! Refused everywhere: C0 and C1 control characters (a terminal interprets them: `ESC [ …`
//! rewrites the screen), Unicode format characters (general category Cf: the bidirectional
//! overrides and isolates U+202A–U+202E and U+2066–U+2069, zero-width spaces and joiners, the
//! byte-order mark, …), the line and paragraph separators U+2028/U+2029, private-use and
//! unassigned code points, and noncharacters. Multi-line fields (questions, answers, notes,
//! reasons) may contain line feeds and tabs; single-line fields (names, addresses, phone numbers)
//! may not.

use std::borrow::Cow;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Length limits, in characters (not bytes), the same on the clerk API and from peers.
pub mod limits {
    /// A person's name, a case's subject name.
    pub const NAME: usize = 64;
    /// A residence address.
    pub const ADDRESS: usize = 200;
    /// A phone number.
    pub const PHONE: usize = 20;
    /// Notes on a person.
    pub const NOTES: usize = 500;
    /// The questions of a request.
    pub const QUESTIONS: usize = 2000;
    /// The text of an answer.
    pub const ANSWER: usize = 2000;
    /// A reason (withdrawal, redirection, extension) or a note (acceptance, decision).
    pub const REASON: usize = 500;
    /// A reminder's text.
    pub const REMINDER: usize = 500;
    /// An operator's name as carried in a response (`handled_by`).
    pub const OPERATOR: usize = 64;
    /// A receipt's error text from a peer (kept, truncated beyond this).
    pub const RECEIPT_ERROR: usize = 500;
}

/// Whether a field is one line or may span several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Names, addresses, phone numbers: no line feeds or tabs.
    Line,
    /// Questions, answers, notes, reasons: line feeds and tabs allowed.
    Multiline,
}

/// Why a character may not be stored, or `None` when it may.
pub fn forbidden(ch: char, shape: Shape) -> Option<&'static str> {
    if (ch == '\n' || ch == '\t') && shape == Shape::Multiline {
        return None;
    }
    if matches!(ch, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
        return Some("a bidirectional override or isolate");
    }
    match ch.general_category() {
        GeneralCategory::Control => Some(if ch == '\n' || ch == '\t' {
            "a line break or tab (this field is one line)"
        } else {
            "a control character"
        }),
        GeneralCategory::Format => Some("an invisible format character"),
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
            Some("a line or paragraph separator")
        }
        GeneralCategory::PrivateUse => Some("a private-use character"),
        GeneralCategory::Surrogate => Some("a surrogate"),
        GeneralCategory::Unassigned => Some("an unassigned or noncharacter code point"),
        _ => None,
    }
}

/// A text field that failed: what was wrong, for `field: message` errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("required")]
    Required,
    #[error("at most {max} characters, got {got}")]
    TooLong { max: usize, got: usize },
    #[error("must not contain {what} (U+{code:04X} at character {position})")]
    Forbidden {
        what: &'static str,
        code: u32,
        position: usize,
    },
}

/// Checks a text field: trimmed, at most `max` characters, no forbidden characters; empty is
/// refused unless `optional`. Returns the trimmed text.
pub fn check(value: &str, max: usize, shape: Shape, optional: bool) -> Result<String, TextError> {
    let trimmed = value.trim();
    if trimmed.is_empty() && !optional {
        return Err(TextError::Required);
    }
    // Count without walking a huge value to its end: a peer may send megabytes.
    let got = trimmed.chars().take(max + 1).count();
    if got > max {
        return Err(TextError::TooLong {
            max,
            got: trimmed.chars().count(),
        });
    }
    if let Some((position, ch, what)) = trimmed
        .chars()
        .enumerate()
        .find_map(|(i, ch)| forbidden(ch, shape).map(|what| (i + 1, ch, what)))
    {
        return Err(TextError::Forbidden {
            what,
            code: ch as u32,
            position,
        });
    }
    Ok(trimmed.to_string())
}

/// Text as a terminal may print it: every character [`forbidden`] in multi-line text is shown as
/// `\u{…}`, so stored text can never move the cursor, recolour the screen or reorder what
/// follows. Text stored before these rules existed is printed safely too.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|ch| forbidden(ch, Shape::Multiline).is_some())
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        if forbidden(ch, Shape::Multiline).is_some() {
            out.push_str(&format!("\\u{{{:04x}}}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

/// Text from a peer that is kept for display only (a receipt's error): forbidden characters
/// replaced by U+FFFD and cut to `max` characters, marked with `…`.
pub fn sanitize_for_display(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, ch) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        out.push(if forbidden(ch, Shape::Multiline).is_some() {
            '\u{FFFD}'
        } else {
            ch
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_chinese_and_english_text_passes() {
        for text in [
            "张三",
            "城关镇幸福路1号 3单元",
            "O'Brien-Smith",
            "阿卜杜·热合曼",
            "Ⅱ号楼",
        ] {
            assert_eq!(check(text, 64, Shape::Line, false).unwrap(), text);
        }
        assert_eq!(
            check("第一行\n第二行\t完", 100, Shape::Multiline, false).unwrap(),
            "第一行\n第二行\t完"
        );
    }

    #[test]
    fn deceptive_and_control_characters_are_refused_by_name() {
        for (text, what) in [
            ("张\u{202E}三", "bidirectional"),
            ("张\u{2066}三", "bidirectional"),
            ("张\u{200B}三", "invisible format"),
            ("张\u{FEFF}三", "invisible format"),
            ("张\u{00AD}三", "invisible format"),
            ("张\u{0000}三", "control"),
            ("张\u{001B}[31m三", "control"),
            ("张\u{009B}三", "control"),
            ("张\u{2028}三", "separator"),
            ("张\u{E000}三", "private-use"),
            ("张\u{FFFF}三", "noncharacter"),
            ("张\n三", "line break"),
        ] {
            let error = check(text, 64, Shape::Line, false).unwrap_err();
            assert!(error.to_string().contains(what), "{text:?}: {error}");
            assert!(
                error.to_string().contains("at character 2"),
                "{text:?}: {error}"
            );
        }
        assert!(check("a\u{001B}b", 64, Shape::Multiline, false).is_err());
    }

    #[test]
    fn length_is_counted_in_characters_and_reported() {
        assert!(check(&"张".repeat(64), 64, Shape::Line, false).is_ok());
        let error = check(&"张".repeat(350_000), 200, Shape::Line, false).unwrap_err();
        assert_eq!(
            error,
            TextError::TooLong {
                max: 200,
                got: 350_000
            }
        );
        assert_eq!(
            check("  ", 10, Shape::Line, false),
            Err(TextError::Required)
        );
        assert_eq!(check("  ", 10, Shape::Line, true).unwrap(), "");
    }

    #[test]
    fn terminals_see_escapes_not_effects() {
        assert_eq!(terminal_safe("张三"), Cow::Borrowed("张三"));
        assert_eq!(
            terminal_safe("a\u{1B}[2Jb\u{202E}c"),
            "a\\u{001b}[2Jb\\u{202e}c"
        );
        assert_eq!(terminal_safe("line\nnext"), "line\nnext");
        assert_eq!(sanitize_for_display("ab\u{7}cdef", 4), "ab\u{FFFD}c…");
    }
}
