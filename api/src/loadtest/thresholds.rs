//! A threshold as a manifest writes it: the text the user wrote, parsed once
//! when the manifest is read, so the operator and `gcannon run` judge the same
//! parsed value and never parse strings again.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::threshold::{Threshold, ThresholdError};

/// One entry of `spec.thresholds`: its text and what it parsed to.
#[derive(Clone, Debug)]
pub struct ThresholdExpr {
    text: String,
    parsed: Result<Threshold, ThresholdError>,
}

impl ThresholdExpr {
    /// Parse `text` (a bad one is kept, with its error, for the operator to report).
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let parsed = Threshold::parse(&text);
        Self { text, parsed }
    }

    /// The text as written in the manifest.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed threshold, or why it does not parse.
    pub fn threshold(&self) -> Result<&Threshold, &ThresholdError> {
        self.parsed.as_ref()
    }
}

impl PartialEq for ThresholdExpr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Display for ThresholdExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for ThresholdExpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ThresholdExpr {
    /// Never fails on a bad expression: an object the operator cannot read
    /// would get no status at all, while a kept error becomes `InvalidSpec`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl schemars::JsonSchema for ThresholdExpr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ThresholdExpr".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_once_on_reading_and_written_back_as_given() {
        let list: Vec<ThresholdExpr> = serde_yaml::from_str("['p99  < 5ms', 'p99 <']").unwrap();
        assert_eq!(list[0].threshold().unwrap().to_string(), "p99 < 5ms");
        let e = list[1].threshold().unwrap_err();
        assert!(e.to_string().starts_with("at "), "{e}");
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"["p99  < 5ms","p99 <"]"#
        );
    }
}
