//! CSV with a header line, quoted as RFC 4180 says: a field in double quotes may hold
//! commas, line breaks and quotes (doubled). Lines end in LF or CRLF. Spaces around a
//! field are not part of it (`bob, 25.00` reads as `bob` and `25.00`); inside quotes they
//! are.

use std::borrow::Cow;

use super::{COLUMNS, Payments};

/// One record's fields; `Err` when the record is malformed (the message, and the field's
/// index when one field is at fault).
type Record<'t> = Result<Vec<Cow<'t, str>>, (Option<usize>, String)>;

pub(super) fn read(text: &str, out: &mut Payments<'_>) {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    let Some((_, header)) = reader.next() else {
        return;
    };
    let Some(columns) = header_columns(header, out) else {
        return;
    };
    let named = |field: Option<usize>| field.and_then(|i| columns.get(i)).map(|c| COLUMNS[*c]);
    let mut fields: [Option<Cow<'_, str>>; 4] = Default::default();
    while let Some((line, record)) = reader.next() {
        let record = match record {
            Ok(record) => record,
            Err((field, message)) => {
                out.bad_payment(line, named(field), message);
                continue;
            }
        };
        if record.len() == 1 && record[0].is_empty() {
            out.blank(line);
            continue;
        }
        if record.len() != columns.len() {
            out.bad_payment(
                line,
                None,
                format!(
                    "{} fields, but the header names {} ({})",
                    record.len(),
                    columns.len(),
                    columns
                        .iter()
                        .map(|c| COLUMNS[*c])
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            continue;
        }
        for (column, value) in columns.iter().zip(record) {
            fields[*column] = Some(value);
        }
        let [to, amount, memo, currency] = &fields;
        out.payment(
            line,
            to.as_deref().unwrap_or_default(),
            amount.as_deref().unwrap_or_default(),
            currency.as_deref(),
            memo.as_deref(),
        );
        fields = Default::default();
    }
}

/// The header's columns as indexes into [`COLUMNS`], or `None` after naming every problem.
fn header_columns(header: Record<'_>, out: &mut Payments<'_>) -> Option<Vec<usize>> {
    const EXPECTED: &str = "the first line names the columns: to, amount, and optionally memo and currency, in any order (such as `to,amount,memo`)";
    let names = match header {
        Ok(names) => names,
        Err((_, message)) => {
            out.header_problem(None, format!("{message}; {EXPECTED}"));
            return None;
        }
    };
    if names.len() == 1 && names[0].trim().is_empty() {
        out.header_problem(None, format!("the first line is empty; {EXPECTED}"));
        return None;
    }
    let mut columns = Vec::with_capacity(names.len());
    for name in &names {
        let name = name.trim();
        match COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) {
            Some(i) if columns.contains(&i) => {
                out.header_problem(Some(COLUMNS[i]), "named twice in the header".into());
            }
            Some(i) => columns.push(i),
            None => out.header_problem(
                Some(name),
                format!("not a column of a batch file; {EXPECTED}"),
            ),
        }
    }
    for required in [0, 1] {
        if !columns.contains(&required) && names.len() == columns.len() {
            out.header_problem(
                None,
                format!(
                    "the header has no `{}` column; {EXPECTED}",
                    COLUMNS[required]
                ),
            );
        }
    }
    (columns.len() == names.len() && columns.contains(&0) && columns.contains(&1))
        .then_some(columns)
}

struct Reader<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    /// The line `pos` is on.
    line: usize,
}

impl<'t> Reader<'t> {
    /// The next record and the line it starts on; `None` at the end of the text.
    fn next(&mut self) -> Option<(usize, Record<'t>)> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let line = self.line;
        let mut fields = Vec::with_capacity(4);
        loop {
            let field = match self.field(fields.len()) {
                Ok(field) => field,
                Err(e) => {
                    self.skip_line();
                    return Some((line, Err(e)));
                }
            };
            fields.push(field);
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'\n') => {
                    self.pos += 1;
                    self.line += 1;
                    return Some((line, Ok(fields)));
                }
                None => return Some((line, Ok(fields))),
                // A field ends only at a comma or the end of the line (`field` saw to it).
                Some(_) => unreachable!("a field ends at a comma or a line end"),
            }
        }
    }

    /// One field, leaving `pos` on the comma, the `\n` or the end.
    fn field(&mut self, index: usize) -> Result<Cow<'t, str>, (Option<usize>, String)> {
        let b = self.bytes;
        let mut i = self.pos;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if b.get(i) != Some(&b'"') {
            let end = b[i..]
                .iter()
                .position(|c| *c == b',' || *c == b'\n')
                .map_or(b.len(), |n| i + n);
            let value = self.text[i..end].trim_end_matches([' ', '\t', '\r']);
            if value.contains('"') {
                return Err((
                    Some(index),
                    "a quote inside an unquoted field: put the whole field in quotes and double the quotes inside (\"say \"\"hi\"\"\")".into(),
                ));
            }
            self.pos = end;
            return Ok(Cow::Borrowed(value));
        }
        // Quoted: up to the closing quote; `""` is one quote.
        let start_line = self.line;
        i += 1;
        let mut value = Cow::Borrowed("");
        let mut segment = i;
        loop {
            let Some(q) = b[i..].iter().position(|c| *c == b'"').map(|n| i + n) else {
                self.line += b[segment..].iter().filter(|c| **c == b'\n').count();
                self.pos = b.len();
                return Err((
                    Some(index),
                    format!("the quote opened on line {start_line} is never closed"),
                ));
            };
            self.line += b[segment..q].iter().filter(|c| **c == b'\n').count();
            if b.get(q + 1) == Some(&b'"') {
                value.to_mut().push_str(&self.text[segment..=q]);
                i = q + 2;
                segment = i;
                continue;
            }
            value = match value {
                Cow::Borrowed(_) => Cow::Borrowed(&self.text[segment..q]),
                Cow::Owned(mut s) => {
                    s.push_str(&self.text[segment..q]);
                    Cow::Owned(s)
                }
            };
            i = q + 1;
            break;
        }
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t' || b[i] == b'\r') {
            i += 1;
        }
        match b.get(i) {
            None | Some(b',') | Some(b'\n') => {
                self.pos = i;
                Ok(value)
            }
            Some(_) => {
                self.pos = i;
                Err((
                    Some(index),
                    "text after the closing quote: put the whole field in quotes".into(),
                ))
            }
        }
    }

    /// After a malformed field: on to the next line.
    fn skip_line(&mut self) {
        match self.bytes[self.pos.min(self.bytes.len())..]
            .iter()
            .position(|c| *c == b'\n')
        {
            Some(n) => {
                self.pos += n + 1;
                self.line += 1;
            }
            None => self.pos = self.bytes.len(),
        }
    }
}
