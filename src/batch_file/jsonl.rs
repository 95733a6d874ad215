//! JSON Lines: one object per line, `{"to":"bob","amount":"25.00","memo":"…"}`. The keys
//! are the CSV's columns; any other key, a key given twice, or an amount that is a JSON
//! number (which may lose its decimals on the way) is refused. `memo` and `currency` may
//! be `null` (absent).

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{COLUMNS, Payments};

pub(super) fn read(text: &str, out: &mut Payments<'_>) {
    for (i, line) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            out.blank(line_no);
            continue;
        }
        let row = match serde_json::from_str::<Row>(line) {
            Ok(row) => row,
            Err(e) => {
                let message = match e.classify() {
                    serde_json::error::Category::Data => format!(
                        "each line is one JSON object such as {{\"to\":\"bob\",\"amount\":\"25.00\"}} ({})",
                        Described(&e)
                    ),
                    _ => format!("not valid JSON (at character {})", e.column()),
                };
                out.bad_payment(line_no, None, message);
                continue;
            }
        };
        if let Some((key, message)) = row.problem() {
            out.bad_payment(line_no, Some(&key), message);
            continue;
        }
        fn text(v: &Value) -> Option<&str> {
            match v {
                Value::Text(s) => Some(s),
                _ => None,
            }
        }
        out.payment(
            line_no,
            text(&row.values[0]).unwrap_or_default(),
            text(&row.values[1]).unwrap_or_default(),
            text(&row.values[3]),
            text(&row.values[2]),
        );
    }
}

/// A serde error without its "at line 1 column N" (the line is the file's, said already).
struct Described<'e>(&'e serde_json::Error);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        let suffix = format!(" at line {} column {}", self.0.line(), self.0.column());
        f.write_str(text.strip_suffix(&suffix).unwrap_or(&text))
    }
}

/// One value as given.
#[derive(Default)]
enum Value {
    #[default]
    Absent,
    Null,
    Text(String),
    /// Anything else, by its JSON type's name.
    Other(&'static str),
}

/// One line's object: the values of [`COLUMNS`] in that order, and what else it had.
#[derive(Default)]
struct Row {
    values: [Value; 4],
    unknown: Option<String>,
    twice: Option<&'static str>,
}

impl Row {
    /// The first thing wrong with the object's shape, with the key at fault.
    fn problem(&self) -> Option<(String, String)> {
        if let Some(key) = &self.unknown {
            return Some((
                key.clone(),
                "not a key of a payment: use to, amount, and optionally memo and currency".into(),
            ));
        }
        if let Some(key) = self.twice {
            return Some((key.into(), "given twice".into()));
        }
        for (i, value) in self.values.iter().enumerate() {
            let required = i < 2;
            let message = match value {
                Value::Text(_) => continue,
                Value::Absent | Value::Null if !required => continue,
                Value::Absent => "missing: every payment names `to` and `amount`".to_owned(),
                Value::Null => "must be a string, not null".to_owned(),
                Value::Other("a number") if i == 1 => {
                    "must be a string such as \"25.00\" (a JSON number may lose its decimals)"
                        .to_owned()
                }
                Value::Other(kind) => format!("must be a string, not {kind}"),
            };
            return Some((COLUMNS[i].into(), message));
        }
        None
    }
}

impl<'de> de::Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Row, D::Error> {
        deserializer.deserialize_map(RowVisitor)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let mut row = Row::default();
        while let Some(key) = map.next_key::<String>()? {
            let Some(i) = COLUMNS.iter().position(|c| *c == key) else {
                map.next_value::<IgnoredAny>()?;
                row.unknown.get_or_insert(key);
                continue;
            };
            let value = match map.next_value::<serde_json::Value>()? {
                serde_json::Value::Null => Value::Null,
                serde_json::Value::String(s) => Value::Text(s),
                serde_json::Value::Bool(_) => Value::Other("a boolean"),
                serde_json::Value::Number(_) => Value::Other("a number"),
                serde_json::Value::Array(_) => Value::Other("an array"),
                serde_json::Value::Object(_) => Value::Other("an object"),
            };
            if !matches!(row.values[i], Value::Absent) {
                row.twice.get_or_insert(COLUMNS[i]);
            }
            row.values[i] = value;
        }
        Ok(row)
    }
}
