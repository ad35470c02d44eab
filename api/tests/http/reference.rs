//! The committed contract (`docs/reference/openapi.json`, what the TypeScript client's types are
//! generated from) and the book's HTTP API reference (`docs/reference/http-api.md`, the same
//! document rendered) are the served OpenAPI document: this fails when a route, parameter, answer
//! or schema changed without them. `WIBER_WRITE_DOCS=1` writes both instead (`make docs-reference`).

use std::fmt::Write;

use axum::http::StatusCode;
use serde_json::Value;
use wiber_api::app;

use crate::fakes::*;

const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reference/http-api.md");
const DOCUMENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/reference/openapi.json"
);

#[tokio::test]
async fn the_books_http_reference_is_the_served_openapi_document() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let (status, _, doc) = call(app(s), get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let page = render(&doc);
    let document = serde_json::to_string_pretty(&doc).expect("the document serializes") + "\n";
    if std::env::var_os("WIBER_WRITE_DOCS").is_some() {
        std::fs::write(PAGE, &page).expect("write the reference page");
        std::fs::write(DOCUMENT, &document).expect("write the document");
        return;
    }
    for (path, served) in [(PAGE, &page), (DOCUMENT, &document)] {
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            &committed == served,
            "{path} is not the served OpenAPI document: run `make docs-reference`"
        );
    }
}

fn render(doc: &Value) -> String {
    let mut page = String::from(
        "<!-- Generated from the API's OpenAPI document by `make docs-reference` \
         (api/tests/http/reference.rs); do not edit. -->\n# HTTP API reference\n\n",
    );
    let _ = writeln!(
        page,
        "{} {}, OpenAPI {}. The running API serves the same document at `GET /openapi.json`; \
         [The HTTP API](../concepts/http-api.md) explains the rules behind it.\n",
        text(&doc["info"]["title"]),
        text(&doc["info"]["version"]),
        text(&doc["openapi"]),
    );
    let mut paths: Vec<(&String, &Value)> = doc["paths"]
        .as_object()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    paths.sort_by_key(|(path, _)| path.as_str());
    for (path, item) in paths {
        for (method, op) in item.as_object().into_iter().flatten() {
            operation(&mut page, &method.to_uppercase(), path, op);
        }
    }
    page.push_str("## Schemas\n\n");
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let _ = writeln!(page, "### {name}\n");
        if let Some(d) = schema["description"].as_str() {
            let _ = writeln!(page, "{}\n", one_line(d));
        }
        properties(&mut page, schema);
    }
    page
}

fn operation(page: &mut String, method: &str, path: &str, op: &Value) {
    let _ = writeln!(page, "## `{method} {path}`\n");
    for key in ["summary", "description"] {
        if let Some(t) = op[key].as_str() {
            let _ = writeln!(page, "{}\n", one_line(t));
        }
    }
    if let Some(parameters) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        page.push_str(
            "| parameter | in | required | schema | description |\n|---|---|---|---|---|\n",
        );
        for p in parameters {
            let _ = writeln!(
                page,
                "| `{}` | {} | {} | {} | {} |",
                text(&p["name"]),
                text(&p["in"]),
                p["required"].as_bool().unwrap_or(false),
                schema_of(&p["schema"]),
                cell(&p["description"]),
            );
        }
        page.push('\n');
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        for (media, body) in content {
            let _ = writeln!(page, "Body (`{media}`): {}\n", schema_of(&body["schema"]));
        }
    }
    page.push_str("| answer | description | headers | body |\n|---|---|---|---|\n");
    for (code, answer) in op["responses"].as_object().into_iter().flatten() {
        let headers: Vec<String> = answer["headers"]
            .as_object()
            .map(|h| h.keys().map(|k| format!("`{k}`")).collect())
            .unwrap_or_default();
        let body: Vec<String> = answer["content"]
            .as_object()
            .map(|c| {
                c.iter()
                    .map(|(media, v)| format!("`{media}` {}", schema_of(&v["schema"])))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            page,
            "| {code} | {} | {} | {} |",
            cell(&answer["description"]),
            headers.join(", "),
            body.join("; ")
        );
    }
    page.push('\n');
}

fn properties(page: &mut String, schema: &Value) {
    let Some(props) = schema["properties"].as_object() else {
        let _ = writeln!(page, "{}\n", schema_of(schema));
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    page.push_str("| field | required | schema | description |\n|---|---|---|---|\n");
    for (name, p) in props {
        let _ = writeln!(
            page,
            "| `{name}` | {} | {} | {} |",
            required.contains(&name.as_str()),
            schema_of(p),
            cell(&p["description"]),
        );
    }
    page.push('\n');
}

/// A schema in a table cell: a reference's name, or its type with its rules.
fn schema_of(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    let mut parts = vec![match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => types.iter().map(text).collect::<Vec<_>>().join(" or "),
        _ if schema["oneOf"].is_array() => "one of several".to_owned(),
        _ => "any".to_owned(),
    }];
    if schema["type"] == "array" {
        parts[0] = format!("array of {}", schema_of(&schema["items"]));
    }
    for (key, label) in [
        ("minimum", "min"),
        ("maximum", "max"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("format", "format"),
    ] {
        if let Some(v) = schema.get(key).filter(|v| !v.is_null()) {
            parts.push(format!("{label} {}", text(v)));
        }
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        parts.push(format!("pattern `{}`", pattern.replace('|', "\\|")));
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| format!("`{}`", text(v))).collect();
        parts.push(format!("one of {}", values.join(", ")));
    }
    parts.join(", ")
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn cell(value: &Value) -> String {
    one_line(&text(value)).replace('|', "\\|")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
