//! The WiberCluster reference page of the book (`docs/reference/wibercluster.md`), generated from
//! the CRD's own schema, so every field, default, bound and rule it lists is the one the API server
//! enforces.

use std::fmt::Write;

use kube::CustomResourceExt;
use serde_json::Value;

use super::WiberCluster;

/// Kubernetes' own types embedded in the spec: named, not expanded (their reference is upstream).
const KUBERNETES_TYPES: &[(&str, &str)] = &[
    ("resources", "ResourceRequirements"),
    ("tolerations", "[]Toleration"),
    ("affinity", "Affinity"),
    ("topologySpreadConstraints", "[]TopologySpreadConstraint"),
    ("env", "[]EnvVar"),
    ("imagePullSecrets", "[]LocalObjectReference"),
    ("conditions", "[]Condition"),
    ("lastScaleTime", "Time"),
];

/// The page, as `make crds` writes it.
pub fn reference_markdown() -> String {
    let crd = serde_json::to_value(WiberCluster::crd()).expect("the CRD serializes");
    let version = &crd["spec"]["versions"][0];
    let schema = &version["schema"]["openAPIV3Schema"];
    let mut page = String::from(
        "<!-- Generated from the CRD by `make crds` (operator/src/crd/reference.rs); do not edit. -->\n\
         # WiberCluster reference\n\n",
    );
    let _ = writeln!(
        page,
        "`{}/{}`, kind `{}`, namespaced, short name `{}`, category `{}`. \
         `kubectl explain wibercluster.spec` gives the same descriptions.\n",
        crd["spec"]["group"].as_str().unwrap_or_default(),
        version["name"].as_str().unwrap_or_default(),
        crd["spec"]["names"]["kind"].as_str().unwrap_or_default(),
        crd["spec"]["names"]["shortNames"][0]
            .as_str()
            .unwrap_or_default(),
        crd["spec"]["names"]["categories"][0]
            .as_str()
            .unwrap_or_default(),
    );
    rules(&mut page, "", schema);
    for part in ["spec", "status"] {
        section(&mut page, part, &schema["properties"][part]);
    }
    page
}

/// One object's table, then a section for each object field in it.
fn section(page: &mut String, path: &str, schema: &Value) {
    let _ = writeln!(page, "## `{path}`\n");
    if let Some(description) = schema["description"].as_str() {
        let _ = writeln!(page, "{}\n", one_line(description));
    }
    rules(page, path, schema);
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    page.push_str("| field | type | default | rules | description |\n|---|---|---|---|---|\n");
    let mut nested = Vec::new();
    for (name, field) in sorted(properties) {
        let (kind, expand) = kind_of(name, field);
        let _ = writeln!(
            page,
            "| `{name}`{} | {kind} | {} | {} | {} |",
            if required.contains(&name.as_str()) {
                " (required)"
            } else {
                ""
            },
            field
                .get("default")
                .map(|d| format!("`{}`", canonical(d)))
                .unwrap_or_default(),
            bounds(field),
            one_line(field["description"].as_str().unwrap_or_default()).replace('|', "\\|"),
        );
        if let Some(object) = expand {
            nested.push((format!("{path}.{name}"), object));
        }
    }
    page.push('\n');
    for (path, object) in nested {
        section(page, &path, object);
    }
}

/// The field's type as the table shows it, and the object to expand below, if any.
fn kind_of<'a>(name: &str, field: &'a Value) -> (String, Option<&'a Value>) {
    if let Some((_, kubernetes)) = KUBERNETES_TYPES.iter().find(|(n, _)| *n == name) {
        return (format!("Kubernetes `{kubernetes}`"), None);
    }
    let kind = field["type"].as_str().unwrap_or("any");
    match kind {
        "object" if field["properties"].is_object() => ("object".to_owned(), Some(field)),
        "object" => {
            let values = field["additionalProperties"]["type"]
                .as_str()
                .unwrap_or("any");
            (format!("map of {values}"), None)
        }
        "array" => {
            let items = &field["items"];
            match items["type"].as_str() {
                Some("object") if items["properties"].is_object() => {
                    ("[]object".to_owned(), Some(items))
                }
                Some(item) => (format!("[]{item}"), None),
                None => ("[]any".to_owned(), None),
            }
        }
        other => (other.to_owned(), None),
    }
}

/// Enums, ranges, lengths and patterns of one field.
fn bounds(field: &Value) -> String {
    let mut out = Vec::new();
    if let Some(values) = field["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        out.push(format!("one of {}", values.join(", ")));
    }
    for (key, label) in [
        ("minimum", "min"),
        ("maximum", "max"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
    ] {
        if let Some(v) = field.get(key).and_then(Value::as_f64) {
            out.push(format!("{label} {v}"));
        }
    }
    if let Some(pattern) = field["pattern"].as_str() {
        out.push(format!("pattern `{}`", pattern.replace('|', "\\|")));
    }
    if field["x-kubernetes-validations"].is_array() {
        out.push("rule below".to_owned());
    }
    out.join("; ")
}

/// The CEL rules on an object or field, with the message the API server answers.
fn rules(page: &mut String, path: &str, schema: &Value) {
    let mut found = Vec::new();
    collect_rules(path, schema, &mut found, true);
    if found.is_empty() {
        return;
    }
    page.push_str("Rules the API server checks:\n\n");
    for (at, rule, message) in found {
        let _ = writeln!(page, "- `{at}`: `{rule}` ({message})");
    }
    page.push('\n');
}

/// Rules of `schema` itself and of its scalar fields (objects list their own in their section).
fn collect_rules(path: &str, schema: &Value, out: &mut Vec<(String, String, String)>, own: bool) {
    for rule in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let at = if path.is_empty() {
            "(the resource)"
        } else {
            path
        };
        out.push((
            at.to_owned(),
            rule["rule"].as_str().unwrap_or_default().to_owned(),
            rule["message"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    if !own {
        return;
    }
    for (name, field) in schema["properties"]
        .as_object()
        .into_iter()
        .flat_map(sorted)
    {
        if !field["properties"].is_object() {
            collect_rules(&format!("{path}.{name}"), field, out, false);
        }
    }
}

/// An object's fields by name. serde_json keeps a map's order only when some crate of the build
/// turns on its `preserve_order` (the MongoDB driver does, in a workspace build), so the page
/// sorts them itself, and is the same however it was built.
fn sorted(object: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut fields: Vec<_> = object.iter().collect();
    fields.sort_by_key(|(name, _)| name.as_str());
    fields
}

/// `value` as JSON with every object's keys in order (see `sorted`).
fn canonical(value: &Value) -> String {
    fn ordered(value: &Value) -> Value {
        match value {
            Value::Object(object) => Value::Object(
                sorted(object)
                    .into_iter()
                    .map(|(k, v)| (k.clone(), ordered(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(ordered).collect()),
            other => other.clone(),
        }
    }
    ordered(value).to_string()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
