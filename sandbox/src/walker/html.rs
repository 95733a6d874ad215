//! The little HTML the walker reads: start tags and their attributes, the text of a marked
//! element, the login form. A small, forgiving scanner: the pages are the sandbox's own.

use std::collections::HashMap;

/// The text of the first element carrying attribute `marker`, up to the first closing tag
/// inside it (so `<p data-payment><strong>Pay bob</strong></p>` reads "Pay bob"), with
/// character references decoded and trimmed; `None` without one.
pub(super) fn element_text(html: &str, marker: &str) -> Option<String> {
    let at = html.find(&format!(" {marker}"))?;
    let content = &html[at + find_tag_end(&html[at..])? + 1..];
    let content = &content[..content.find("</")?];
    let mut text = String::new();
    let mut in_tag = false;
    for c in content.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = unescape(text.trim());
    (!text.is_empty()).then_some(text)
}

pub(super) struct LoginForm {
    pub action: String,
    pub hidden: Vec<(String, String)>,
}

/// The page's `<form method="post">` with a password input, if any.
pub(super) fn login_form(html: &str) -> Option<LoginForm> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<form")?;
    let end = lower[start..]
        .find("</form>")
        .map_or(html.len(), |e| start + e);
    let form_html = &html[start..end];
    let form = find_tags(form_html, "form").into_iter().next()?;
    if !form
        .get("method")
        .is_some_and(|m| m.eq_ignore_ascii_case("post"))
    {
        return None;
    }
    let inputs = find_tags(form_html, "input");
    if !inputs
        .iter()
        .any(|i| i.get("name").map(String::as_str) == Some("password"))
    {
        return None;
    }
    let hidden = inputs
        .iter()
        .filter(|i| {
            i.get("type")
                .is_some_and(|t| t.eq_ignore_ascii_case("hidden"))
        })
        .filter_map(|i| {
            Some((
                i.get("name")?.clone(),
                i.get("value").cloned().unwrap_or_default(),
            ))
        })
        .collect();
    Some(LoginForm {
        action: form.get("action").cloned().unwrap_or_default(),
        hidden,
    })
}

/// A `<form method="post">` that carries attribute `marker`: its action, its hidden fields
/// and the values of its other inputs.
pub(super) struct MarkedForm {
    pub action: String,
    pub hidden: Vec<(String, String)>,
    inputs: Vec<HashMap<String, String>>,
}

impl MarkedForm {
    /// The value of the input called `name`, if it has one.
    pub fn value(&self, name: &str) -> Option<String> {
        self.inputs
            .iter()
            .find(|i| i.get("name").map(String::as_str) == Some(name))
            .and_then(|i| i.get("value").cloned())
    }
}

pub(super) fn marked_form(html: &str, marker: &str) -> Option<MarkedForm> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("<form") {
        let start = from + i;
        from = start + 5;
        let end = lower[start..]
            .find("</form>")
            .map_or(html.len(), |e| start + e);
        let form_html = &html[start..end];
        let Some(form) = find_tags(form_html, "form").into_iter().next() else {
            continue;
        };
        let is_post = form
            .get("method")
            .is_some_and(|m| m.eq_ignore_ascii_case("post"));
        if !is_post || !form.contains_key(marker) {
            continue;
        }
        let inputs = find_tags(form_html, "input");
        let hidden = inputs
            .iter()
            .filter(|i| {
                i.get("type")
                    .is_some_and(|t| t.eq_ignore_ascii_case("hidden"))
            })
            .filter_map(|i| {
                Some((
                    i.get("name")?.clone(),
                    i.get("value").cloned().unwrap_or_default(),
                ))
            })
            .collect();
        return Some(MarkedForm {
            action: form.get("action").cloned().unwrap_or_default(),
            hidden,
            inputs,
        });
    }
    None
}

/// The value of the first attribute `name="…"` anywhere in the page, decoded.
pub(super) fn marker_value(html: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let at = html.find(&needle)? + needle.len();
    let end = html[at..].find('"')? + at;
    Some(unescape(&html[at..end]))
}

/// Attributes of every `<name …>` start tag (a small, forgiving tag scanner: the pages are
/// the sandbox's own, so a full HTML parser would not earn its place).
pub(super) fn find_tags(html: &str, name: &str) -> Vec<HashMap<String, String>> {
    let lower = html.to_ascii_lowercase();
    let needle = format!("<{name}");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&needle) {
        let at = from + i + needle.len();
        from = at;
        if !lower[at..].starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/') {
            continue;
        }
        let Some(close) = find_tag_end(&html[at..]) else {
            break;
        };
        out.push(attributes(&html[at..at + close]));
        from = at + close;
    }
    out
}

fn find_tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn attributes(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == '/') {
            i += 1;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '=' && chars[i] != '/' {
            i += 1;
        }
        if start == i {
            i += 1;
            continue;
        }
        let name: String = chars[start..i]
            .iter()
            .collect::<String>()
            .to_ascii_lowercase();
        let mut value = String::new();
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            if i < chars.len() && (chars[i] == '"' || chars[i] == '\'') {
                let q = chars[i];
                i += 1;
                let vs = i;
                while i < chars.len() && chars[i] != q {
                    i += 1;
                }
                value = chars[vs..i].iter().collect();
                i += 1;
            } else {
                let vs = i;
                while i < chars.len() && !chars[i].is_whitespace() {
                    i += 1;
                }
                value = chars[vs..i].iter().collect();
            }
        }
        out.insert(name, unescape(&value));
    }
    out
}

/// Decodes the character references an HTML escaper emits: `&amp;`, `&lt;`, `&gt;`,
/// `&quot;`, `&apos;` and numeric ones (`&#34;`, `&#x27;`); anything else stays as is.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest
            .find(';')
            .filter(|&end| end <= 10)
            .and_then(|end| Some((reference(&rest[1..end])?, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn reference(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_login_form_and_its_hidden_fields() {
        let html = r#"<html><body><form method="POST" action="/login">
            <input type="hidden" name="txn" value="t_1">
            <input type='hidden' name=csrf_token value="a&amp;b">
            <input name="username"><input type="password" name="password">
            </form></body></html>"#;
        let form = login_form(html).expect("a login form");
        assert_eq!(form.action, "/login");
        assert_eq!(
            form.hidden,
            vec![
                ("txn".to_owned(), "t_1".to_owned()),
                ("csrf_token".to_owned(), "a&b".to_owned())
            ]
        );
        assert!(login_form(r#"<form method="get"><input name="password"></form>"#).is_none());
        assert!(login_form(r#"<form method="post"><input name="q"></form>"#).is_none());
    }

    #[test]
    fn finds_the_mfa_page_urls() {
        let html = r#"<main class="x" data-mfa-status-url="/mfa/status?txn=1" data-mfa-continue-url="/mfa/continue?txn=1">"#;
        let main = find_tags(html, "main").into_iter().next().expect("main");
        assert_eq!(main["data-mfa-status-url"], "/mfa/status?txn=1");
        assert_eq!(main["data-mfa-continue-url"], "/mfa/continue?txn=1");
        assert!(find_tags("<mainly>", "main").is_empty());
    }

    #[test]
    fn reads_what_the_waiting_page_says_and_its_number() {
        let html = r#"<p class="payment" data-payment><strong>Pay bob 25.00 USD</strong></p>
            <p>Type <strong class="binding-code" data-binding-code>47</strong></p>"#;
        assert_eq!(
            element_text(html, "data-payment").as_deref(),
            Some("Pay bob 25.00 USD")
        );
        assert_eq!(
            element_text(html, "data-binding-code").as_deref(),
            Some("47")
        );
        assert_eq!(element_text(html, "data-nothing"), None);
        assert_eq!(
            element_text("<b data-payment>Pay o&amp;b</b>", "data-payment").as_deref(),
            Some("Pay o&b")
        );
    }

    #[test]
    fn finds_marked_forms_and_markers() {
        let html = r#"<form method="post" action="/login"><input name="password"></form>
            <form method="post" action="/device" data-device-entry>
            <input type="hidden" name="csrf_token" value="c&amp;1">
            <input type="text" name="user_code" value="BCDF-GHJK"></form>
            <div class="error" data-device-result="denied">No</div>"#;
        let form = marked_form(html, "data-device-entry").expect("the device form");
        assert_eq!(form.action, "/device");
        assert_eq!(
            form.hidden,
            vec![("csrf_token".to_owned(), "c&1".to_owned())]
        );
        assert_eq!(form.value("user_code").as_deref(), Some("BCDF-GHJK"));
        assert!(marked_form(html, "data-device-consent").is_none());
        assert_eq!(
            marker_value(html, "data-device-result").as_deref(),
            Some("denied")
        );
        assert_eq!(marker_value(html, "data-nothing"), None);
    }

    #[test]
    fn attribute_values_are_unescaped() {
        let html =
            r#"<input name="a" value="x&#34;&#39;&#60;&#62;&#38;y&amp;&quot;&#x27;&nbsp;&">"#;
        let input = find_tags(html, "input").into_iter().next().expect("input");
        assert_eq!(input["value"], "x\"'<>&y&\"'&nbsp;&");
    }
}
