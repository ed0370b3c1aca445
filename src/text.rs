//! Text helpers every layer uses: server text made safe to print, and an
//! error's cause chain in one line. A leaf: it depends on nothing of the
//! crate, so errors, events and the network code can all use it.

/// Text a server sent, made safe to print: control characters (escape
/// sequences that clear a screen, retitle a terminal or write the
/// clipboard; line breaks that forge log lines) and the invisible
/// bidirectional overrides are shown escaped (`\u{1b}`, `\n`), never
/// passed to the terminal. Every server-supplied text goes through this
/// before it can reach a message or an event.
pub(crate) fn printable(text: &str) -> String {
    if !text.chars().any(needs_escape) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// How much of a cause chain a message shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Causes {
    /// The error and every cause that adds words: reqwest's own message
    /// ("error sending request") says little without them.
    All,
    /// Only the innermost cause ("connection reset by peer", "invalid peer
    /// certificate: UnknownIssuer"), for a message that already says what
    /// kind of fault it was.
    Innermost,
}

/// An error's cause chain in one line: the one formatter for them. Callers
/// pass errors without their URL (`reqwest::Error::without_url`): a link
/// carries its signature.
pub(crate) fn cause_chain(error: &dyn std::error::Error, shown: Causes) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let words = cause.to_string();
        match shown {
            Causes::Innermost => text = words,
            Causes::All if text.contains(&words) => {}
            Causes::All if text.is_empty() => text = words,
            Causes::All => {
                text.push_str(": ");
                text.push_str(&words);
            }
        }
        next = cause
            .source()
            .map(|source| source as &dyn std::error::Error);
    }
    text
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    /// A cause chain as reqwest builds one: each link wraps the next.
    #[derive(Debug)]
    struct Link(&'static str, Option<Box<Link>>);

    impl fmt::Display for Link {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Link {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn one_formatter_for_cause_chains() {
        let chain = Link(
            "error sending request",
            Some(Box::new(Link(
                "client error (Connect)",
                Some(Box::new(Link(
                    "tcp connect error: connection refused",
                    Some(Box::new(Link("connection refused", None))),
                ))),
            ))),
        );
        assert_eq!(
            cause_chain(&chain, Causes::All),
            "error sending request: client error (Connect): tcp connect error: connection refused"
        );
        assert_eq!(cause_chain(&chain, Causes::Innermost), "connection refused");
        let alone = Link("broken pipe", None);
        assert_eq!(cause_chain(&alone, Causes::All), "broken pipe");
        assert_eq!(cause_chain(&alone, Causes::Innermost), "broken pipe");
    }

    #[test]
    fn server_text_is_printed_with_its_control_characters_escaped() {
        assert_eq!(printable("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(
            printable("a\u{1b}[2Jb\u{1b}]52;c;ZXZpbA==\u{7}c\nd\u{9b}e\u{202e}f"),
            "a\\u{1b}[2Jb\\u{1b}]52;c;ZXZpbA==\\u{7}c\\nd\\u{9b}e\\u{202e}f"
        );
    }
}
