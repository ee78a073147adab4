//! Reading a `LoadTest` manifest for `gcannon run` as strictly as
//! `kubectl apply --validate=strict` would: `apiVersion` and `kind` must be the
//! LoadTest's, and a field the CRD's schema does not know (a typo such as
//! `conections`) is an error naming its path instead of a silent default.

use api::loadtest::LoadTest;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::{CustomResourceExt, Resource};
use serde_yaml::Value;

/// Parse and check a manifest's text; the error is one line without the file name.
pub fn parse(text: &str) -> Result<LoadTest, String> {
    let value: Value =
        serde_yaml::from_str(text).map_err(|e| format!("not a LoadTest manifest: {e}"))?;
    let field = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or("");
    let api_version = LoadTest::api_version(&());
    if field("apiVersion") != api_version {
        return Err(format!(
            "not a LoadTest manifest: apiVersion must be {api_version}, got {:?}",
            field("apiVersion")
        ));
    }
    let kind = LoadTest::kind(&());
    if field("kind") != kind {
        return Err(format!(
            "not a LoadTest manifest: kind must be {kind}, got {:?}",
            field("kind")
        ));
    }
    let crd = LoadTest::crd();
    if let Some(schema) = crd
        .spec
        .versions
        .iter()
        .find(|v| v.name == LoadTest::version(&()))
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
    {
        let mut unknown = Vec::new();
        // The CRD schema leaves out the fields every object has.
        let mut body = value.clone();
        if let Value::Mapping(m) = &mut body {
            for k in ["apiVersion", "kind", "metadata"] {
                m.remove(k);
            }
        }
        unknown_fields(&body, schema, "", &mut unknown);
        if !unknown.is_empty() {
            return Err(format!("unknown field {}", unknown.join(", ")));
        }
    }
    serde_yaml::from_value(value).map_err(|e| format!("not a LoadTest manifest: {e}"))
}

/// Collect the paths of fields in `value` that `schema` does not declare.
fn unknown_fields(value: &Value, schema: &JSONSchemaProps, path: &str, out: &mut Vec<String>) {
    if schema.x_kubernetes_preserve_unknown_fields == Some(true) {
        return;
    }
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (&schema.properties, &schema.additional_properties) {
                    (Some(props), _) if props.contains_key(&key) => {
                        unknown_fields(v, &props[&key], &here, out)
                    }
                    (_, Some(JSONSchemaPropsOrBool::Schema(s))) => unknown_fields(v, s, &here, out),
                    (_, Some(JSONSchemaPropsOrBool::Bool(true))) => {}
                    // An object with no declared fields (metadata) is not checked here.
                    (None, None) => {}
                    _ => out.push(here),
                }
            }
        }
        Value::Sequence(items) => {
            if let Some(JSONSchemaPropsOrArray::Schema(s)) = &schema.items {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(v, s, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_example_manifest_is_read_strictly() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
        let mut read = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                super::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                read += 1;
            }
        }
        assert!(read >= 5, "examples/*.yaml: only {read} read");
    }
}
