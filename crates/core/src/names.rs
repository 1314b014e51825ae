//! A list of short strings kept in one buffer.

/// Strings end to end in one buffer, with where each ends: a login's fifty normalised
/// group names are two allocations, not fifty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    text: String,
    ends: Vec<usize>,
}

impl Names {
    /// Room for `count` names of `bytes` bytes in all.
    pub fn with_capacity(count: usize, bytes: usize) -> Self {
        Names {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(count),
        }
    }

    pub fn push(&mut self, name: &str) {
        self.push_with(|buf| buf.push_str(name));
    }

    /// Adds the name `write` appends to the buffer.
    pub fn push_with(&mut self, write: impl FnOnce(&mut String)) {
        write(&mut self.text);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        self.ends.iter().enumerate().map(|(i, &end)| {
            let start = i.checked_sub(1).and_then(|p| self.ends.get(p));
            self.text
                .get(start.copied().unwrap_or(0)..end)
                .unwrap_or_default()
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|n| n == name)
    }
}

/// As a list of strings.
impl serde::Serialize for Names {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'a> FromIterator<&'a str> for Names {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut names = Names::default();
        for n in iter {
            names.push(n);
        }
        names
    }
}

impl FromIterator<String> for Names {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut names = Names::default();
        for n in iter {
            names.push(&n);
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_back_as_pushed() {
        let mut n: Names = ["editors", "", "ops"].into_iter().collect();
        n.push_with(|b| b.push_str("united-kingdom"));
        assert_eq!(
            n.iter().collect::<Vec<_>>(),
            ["editors", "", "ops", "united-kingdom"]
        );
        assert_eq!(n.len(), 4);
        assert!(n.contains("") && n.contains("ops") && !n.contains("op"));
        assert!(Names::default().is_empty());
        assert_eq!(
            serde_json::to_value(&n).ok(),
            Some(serde_json::json!(["editors", "", "ops", "united-kingdom"]))
        );
    }
}
