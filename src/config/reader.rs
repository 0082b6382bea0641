//! Reading one table of the configuration: typed getters that record a problem (naming the
//! key and where its value came from) instead of failing, and the "did you mean" hint for
//! unknown keys.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use config::Value;

/// Collects problems while reading one table.
pub(super) struct Reader<'a> {
    section: &'static str,
    pub(super) table: config::Map<String, Value>,
    pub(super) problems: &'a mut Vec<String>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(
        root: &mut config::Map<String, Value>,
        section: &'static str,
        problems: &'a mut Vec<String>,
    ) -> Self {
        let table = match root.remove(section) {
            None => config::Map::new(),
            Some(v) => {
                let origin = origin(&v);
                match v.into_table() {
                    Ok(t) => t,
                    Err(_) => {
                        problems.push(format!("[{section}]{origin}: must be a table"));
                        config::Map::new()
                    }
                }
            }
        };
        Reader {
            section,
            table,
            problems,
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}.{key}", self.section)
    }

    fn bad(&mut self, key: &str, value: &Value, why: impl fmt::Display) {
        let origin = origin(value);
        self.problems
            .push(format!("{}{origin}: {why}", self.key(key)));
    }

    pub(super) fn string(&mut self, key: &str) -> Option<String> {
        let v = self.table.remove(key)?;
        match v.clone().into_string() {
            Ok(s) => Some(s),
            Err(_) => {
                self.bad(key, &v, "must be a text value (in quotes)");
                None
            }
        }
    }

    pub(super) fn required_string(&mut self, key: &str, example: &str) -> Option<String> {
        let s = self.string(key);
        match s {
            Some(s) if !s.trim().is_empty() => Some(s),
            Some(_) => {
                self.problems.push(format!(
                    "{}: must not be empty (for example: {example})",
                    self.key(key)
                ));
                None
            }
            None if !self.table.contains_key(key) => {
                self.problems.push(format!(
                    "{}: missing (for example: {example})",
                    self.key(key)
                ));
                None
            }
            None => None,
        }
    }

    pub(super) fn duration(&mut self, key: &str, default: Duration) -> Duration {
        let Some(v) = self.table.remove(key) else {
            return default;
        };
        match v
            .clone()
            .into_string()
            .map(|s| humantime::parse_duration(&s))
        {
            Ok(Ok(d)) if !d.is_zero() => d,
            _ => {
                self.bad(
                    key,
                    &v,
                    "must be a duration such as \"10s\", \"1m 30s\" or \"500ms\", above zero",
                );
                default
            }
        }
    }

    pub(super) fn uint(&mut self, key: &str, default: u64, min: u64, max: u64) -> u64 {
        let Some(v) = self.table.remove(key) else {
            return default;
        };
        match v.clone().into_int() {
            Ok(n) if (min as i64..=max as i64).contains(&n) => n as u64,
            _ => {
                self.bad(
                    key,
                    &v,
                    format!("must be a whole number from {min} to {max}"),
                );
                default
            }
        }
    }

    pub(super) fn boolean(&mut self, key: &str) -> bool {
        self.boolean_or(key, false)
    }

    pub(super) fn boolean_or(&mut self, key: &str, default: bool) -> bool {
        let Some(v) = self.table.remove(key) else {
            return default;
        };
        match v.clone().into_bool() {
            Ok(b) => b,
            Err(_) => {
                self.bad(key, &v, "must be true or false");
                default
            }
        }
    }

    /// A size in bytes: a whole number or text such as "16MiB", "500 kB", "1GB".
    pub(super) fn size(&mut self, key: &str, default: u64, min: u64) -> u64 {
        let Some(v) = self.table.remove(key) else {
            return default;
        };
        let parsed = match v.clone().into_int() {
            Ok(n) => u64::try_from(n).ok(),
            Err(_) => v.clone().into_string().ok().and_then(|s| parse_size(&s)),
        };
        match parsed {
            Some(n) if n >= min => n,
            _ => {
                self.bad(
                    key,
                    &v,
                    format!("must be a size such as \"16MiB\", \"500kB\" or a number of bytes, at least {min}"),
                );
                default
            }
        }
    }

    pub(super) fn string_map(&mut self, key: &str) -> BTreeMap<String, String> {
        let Some(v) = self.table.remove(key) else {
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        match v.clone().into_table() {
            Ok(t) => {
                for (k, val) in t {
                    match val.clone().into_string() {
                        Ok(s) => {
                            out.insert(k, s);
                        }
                        Err(_) => self.bad(&format!("{key}.{k}"), &val, "must be a text value"),
                    }
                }
            }
            Err(_) => self.bad(key, &v, "must be a table of names"),
        }
        out
    }

    /// Report keys nobody read, with a suggestion when one is close.
    pub(super) fn finish(self, known: &[&str]) {
        for (key, value) in self.table {
            let origin = origin(&value);
            let hint = closest(&key, known)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            self.problems
                .push(format!("{}.{key}{origin}: unknown key{hint}", self.section));
        }
    }
}

/// Parse "16MiB", "500 kB", "2G", "1024" into bytes.
pub(super) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

pub(super) fn origin(v: &Value) -> String {
    match v.origin() {
        Some(o) => format!(" (from {o})"),
        None => String::new(),
    }
}

/// The known key closest to `key`, if it is a plausible typo.
pub(crate) fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) || (key.len() >= 3 && k.starts_with(key)))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
