//! Email content: a subject, a text body and an HTML body, filled from the events' data with
//! minijinja. Built-in templates can be overridden file by file from `--email-templates DIR`.
//!
//! Templates see `user`, `count`, and `events`: each with `id`, `data` (the published object,
//! less its routing fields and an `img_url` that got no link) and `link` (the event's `img_url`
//! under the app's base URL, `--email-link-base`; none without a base or for a URL elsewhere).
//! The HTML template is auto-escaped (its name ends in `.html`), so event data cannot inject
//! markup.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;
use serde_json::Value;

use super::EmailError;

/// Template names and their built-in sources.
const TEMPLATES: [(&str, &str); 3] = [
    ("subject.txt", include_str!("default_templates/subject.txt")),
    ("body.txt", include_str!("default_templates/body.txt")),
    ("body.html", include_str!("default_templates/body.html")),
];

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// Plain text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

#[derive(Serialize)]
struct EventView<'a> {
    id: &'a str,
    data: std::borrow::Cow<'a, Value>,
    link: Option<String>,
}

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
    link_base: Option<String>,
}

impl Templates {
    /// The built-in templates, each overridden by a file of the same name in `dir` if present.
    pub fn load(dir: Option<&Path>, link_base: Option<String>) -> Result<Self, EmailError> {
        let mut env = Environment::new();
        for (name, builtin) in TEMPLATES {
            let source = match dir.map(|d| d.join(name)).filter(|p| p.exists()) {
                Some(path) => std::fs::read_to_string(&path).map_err(|e| {
                    EmailError::Template(format!("cannot read {}: {e}", path.display()))
                })?,
                None => builtin.to_owned(),
            };
            env.add_template_owned(name, source)
                .map_err(|e| EmailError::Template(format!("{name}: {e}")))?;
        }
        Ok(Self { env, link_base })
    }

    /// Renders the email for `user` about `events` (id and data, oldest first).
    pub fn render(&self, user: &str, events: &[(String, Value)]) -> Result<Rendered, EmailError> {
        let views: Vec<EventView<'_>> = events
            .iter()
            .map(|(id, data)| {
                let link = link(self.link_base.as_deref(), data);
                EventView {
                    id,
                    data: shown(data, link.is_some()),
                    link,
                }
            })
            .collect();
        let ctx = minijinja::context! {
            user => user,
            count => views.len(),
            events => minijinja::Value::from(minijinja::value::Serde(&views)),
        };
        let render = |name: &str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(&ctx))
                .map_err(|e| EmailError::Template(format!("{name}: {e}")))
        };
        let subject = render("subject.txt")?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Rendered {
            subject,
            text: render("body.txt")?,
            html: render("body.html")?,
        })
    }
}

/// The data as templates see it: an `img_url` that got no link is left out, so a template that
/// prints the data does not print it either (mail clients turn URLs in text into links).
fn shown(data: &Value, linked: bool) -> std::borrow::Cow<'_, Value> {
    match data.as_object() {
        Some(obj) if !linked && obj.contains_key("img_url") => {
            let mut obj = obj.clone();
            obj.remove("img_url");
            std::borrow::Cow::Owned(Value::Object(obj))
        }
        _ => std::borrow::Cow::Borrowed(data),
    }
}

/// The link to an event's image, only ever under the app's base URL: a path is joined with
/// it, an absolute URL is kept only if it lies under it. Anything else (another host,
/// `javascript:`, `//host`, or no base set) gets no link: the relay's own email must not carry
/// a link a publisher's data pointed elsewhere.
fn link(base: Option<&str>, data: &Value) -> Option<String> {
    let img = data.get("img_url")?.as_str()?;
    let base = base?.trim_end_matches('/');
    if img
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return None;
    }
    if let Some(rest) = img.strip_prefix(base) {
        // Under the base: the base itself, or followed by a path, never `base.evil.example`.
        return (rest.is_empty() || rest.starts_with('/')).then(|| img.to_owned());
    }
    if !img.starts_with('/') || img.starts_with("//") {
        return None;
    }
    Some(format!("{base}{img}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn templates() -> Templates {
        Templates::load(None, Some("https://app.example.com/".into())).unwrap()
    }

    #[test]
    fn one_event_gets_a_link_to_the_new_image() {
        let r = templates()
            .render(
                "42",
                &[("1-0".into(), json!({"img_url": "/uploads/a.jpg"}))],
            )
            .unwrap();
        assert_eq!(r.subject, "Your new image is ready");
        assert!(
            r.text.contains("https://app.example.com/uploads/a.jpg"),
            "{}",
            r.text
        );
        // Attribute values are entity-escaped (`/` too); mail clients decode them.
        let href = r#"<a href="https:&#x2f;&#x2f;app.example.com&#x2f;uploads&#x2f;a.jpg">"#;
        assert!(r.html.contains(href), "{}", r.html);
    }

    #[test]
    fn event_data_is_escaped_in_html_and_bad_links_are_dropped() {
        let evil = json!({"img_url": "javascript:alert(1)", "title": "<script>x</script>"});
        let quote = json!({"img_url": "/a\"onmouseover=\"x.jpg"});
        let r = templates()
            .render("42", &[("1-0".into(), evil), ("2-0".into(), quote)])
            .unwrap();
        assert_eq!(r.subject, "You have 2 new notifications");
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(!r.html.contains("href=\"javascript"), "{}", r.html);
        assert!(!r.html.contains("\"onmouseover"), "{}", r.html);
    }

    #[test]
    fn links_point_only_under_the_link_base() {
        let link_of = |img: &str| link(Some("https://app.example.com/"), &json!({"img_url": img}));
        assert_eq!(
            link_of("https://app.example.com/u/a.jpg").as_deref(),
            Some("https://app.example.com/u/a.jpg")
        );
        for elsewhere in [
            "https://evil.example/phish",
            "https://app.example.com.evil.example/x",
            "https://app.example.com@evil.example/x",
            "http://app.example.com/x",
            "//evil.example/x",
            "/\\evil.example/x",
        ] {
            assert_eq!(link_of(elsewhere), None, "{elsewhere}");
        }
        assert_eq!(link(None, &json!({"img_url": "/u/a.jpg"})), None);
        let r = templates()
            .render(
                "42",
                &[("1-0".into(), json!({"img_url": "https://evil.example/p"}))],
            )
            .unwrap();
        assert!(!r.text.contains("evil.example"), "{}", r.text);
        assert!(!r.html.contains("evil.example"), "{}", r.html);
    }

    #[test]
    fn a_template_directory_overrides_only_the_files_it_has() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("subject.txt"), "Hi {{ user }}").unwrap();
        let t = Templates::load(Some(dir.path()), None).unwrap();
        let r = t.render("ann", &[("1-0".into(), json!({}))]).unwrap();
        assert_eq!(r.subject, "Hi ann");
        assert!(r.text.contains("while you were away"));
    }
}
