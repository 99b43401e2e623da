//! An ordered list of header lines, as found in frame envelopes and commands.

/// Header lines in wire order. Names may repeat (FreeSWITCH sends duplicates)
/// and are looked up case-insensitively, first occurrence winning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    lines: Vec<(String, String)>,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Appends a header line, keeping any earlier line of the same name.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.lines.push((name.into(), value.into()));
    }

    /// Builder form of [`Headers::push`].
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Headers {
        self.push(name, value);
        self
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Removes every line named `name` (case-insensitive).
    pub fn remove(&mut self, name: &str) {
        self.lines.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The lines in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many lines there are.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there is no line at all.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Headers {
        Headers {
            lines: iter
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_first_wins() {
        let headers = Headers::new()
            .with("Content-Type", "command/reply")
            .with("Hangup-Cause", "NORMAL_CLEARING")
            .with("hangup-cause", "USER_BUSY");
        assert_eq!(headers.get("content-type"), Some("command/reply"));
        assert_eq!(headers.get("Hangup-Cause"), Some("NORMAL_CLEARING"));
        assert_eq!(headers.get("missing"), None);
        assert_eq!(headers.len(), 3);
    }

    #[test]
    fn remove_drops_every_occurrence() {
        let mut headers: Headers = [("A", "1"), ("a", "2"), ("B", "3")].into_iter().collect();
        headers.remove("A");
        assert_eq!(headers.iter().collect::<Vec<_>>(), vec![("B", "3")]);
    }
}
