//! Many tensors in one run: `--tensor NAME=DIMS[:KEY=VALUE...]` and `--spec FILE.json`.
//!
//! Each tensor gives its shape and may give its own groups, dtype, layout and gain; what it
//! leaves out comes from [`Defaults`] (the command-line options).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use crate::dtype::{Dtype, Gain};
use crate::error::Error;
use crate::format::Tensor;
use crate::request::{Layout, Request, parse_dims};

/// The options a tensor inherits where it says nothing.
///
/// ```
/// let d = dirac_init::spec::Defaults::default();
/// assert_eq!(d.groups, 1);
/// assert_eq!(d.dtype, dirac_init::Dtype::F32);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Defaults {
    /// Element type.
    pub dtype: Dtype,
    /// Kernel layout.
    pub layout: Layout,
    /// Groups.
    pub groups: usize,
    /// Gain.
    pub gain: Gain,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            dtype: Dtype::F32,
            layout: Layout::Oihw,
            groups: 1,
            gain: Gain::ONE,
        }
    }
}

/// One tensor's shape and the options it sets for itself.
///
/// ```
/// use dirac_init::spec::{Defaults, TensorSpec};
/// let (name, spec) = TensorSpec::parse_arg("dw.weight=32x1x3x3:groups=32:dtype=f16").unwrap();
/// let t = spec.resolve(&name, &Defaults::default()).unwrap();
/// assert_eq!(t.name, "dw.weight");
/// assert_eq!(t.request.groups(), 32);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    /// The shape, in the tensor's layout.
    pub shape: Vec<usize>,
    /// Groups, if not the default.
    #[serde(default)]
    pub groups: Option<usize>,
    /// Dtype, if not the default.
    #[serde(default, deserialize_with = "from_text")]
    pub dtype: Option<Dtype>,
    /// Layout, if not the default.
    #[serde(default, deserialize_with = "from_text")]
    pub layout: Option<Layout>,
    /// Gain, if not the default (a JSON number).
    #[serde(default, deserialize_with = "gain_from_number")]
    pub gain: Option<Gain>,
}

fn from_text<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: de::Deserializer<'de>,
    T: std::str::FromStr<Err = Error>,
{
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(de::Error::custom)
}

fn gain_from_number<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<Gain>, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.to_string().parse().map(Some).map_err(de::Error::custom)
}

impl TensorSpec {
    /// Parses `NAME=DIMS[:KEY=VALUE...]`, keys `groups`, `dtype`, `layout`, `gain`.
    ///
    /// ```
    /// let (name, spec) = dirac_init::spec::TensorSpec::parse_arg("conv1.weight=64x3x3x3").unwrap();
    /// assert_eq!((name.as_str(), spec.shape), ("conv1.weight", vec![64, 3, 3, 3]));
    /// assert!(dirac_init::spec::TensorSpec::parse_arg("conv1.weight").is_err());
    /// ```
    pub fn parse_arg(arg: &str) -> Result<(String, TensorSpec), Error> {
        let usage = |why: String| {
            Error::Usage(format!(
                "--tensor '{arg}': {why} (allowed: NAME=DIMS[:KEY=VALUE...], e.g. dw.weight=32x1x3x3:groups=32:dtype=f16, keys groups, dtype, layout, gain)"
            ))
        };
        let (name, rest) = arg
            .split_once('=')
            .filter(|(name, _)| !name.is_empty())
            .ok_or_else(|| usage("no NAME=".into()))?;
        let mut parts = rest.split(':');
        let dims = parts.next().unwrap_or("");
        let mut spec = TensorSpec {
            shape: parse_dims(&[dims])?,
            ..TensorSpec::default()
        };
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| usage(format!("'{part}' is not KEY=VALUE")))?;
            match key {
                "groups" => {
                    spec.groups = Some(value.parse().map_err(|_| {
                        Error::Groups(format!(
                            "'{value}' in --tensor '{arg}' is not a positive integer"
                        ))
                    })?)
                }
                "dtype" => spec.dtype = Some(value.parse()?),
                "layout" => spec.layout = Some(value.parse()?),
                "gain" => spec.gain = Some(value.parse()?),
                _ => return Err(usage(format!("unknown key '{key}'"))),
            }
        }
        Ok((name.to_string(), spec))
    }

    /// Builds the tensor, taking what the spec leaves out from `defaults`.
    pub fn resolve(&self, name: &str, defaults: &Defaults) -> Result<Tensor, Error> {
        let request = Request::builder(self.shape.clone())
            .dtype(self.dtype.unwrap_or(defaults.dtype))
            .layout(self.layout.unwrap_or(defaults.layout))
            .groups(self.groups.unwrap_or(defaults.groups))
            .gain(self.gain.clone().unwrap_or_else(|| defaults.gain.clone()))
            .build()
            .map_err(|e| in_tensor(name, e))?;
        Ok(Tensor::new(name, request))
    }
}

/// Prefixes an error with the tensor it is about.
pub(crate) fn in_tensor(name: &str, e: Error) -> Error {
    match e {
        Error::Io(..) => e,
        other => Error::Usage(format!("tensor '{name}': {other}")),
    }
}

/// Parses a spec file: a JSON object from names to [`TensorSpec`]s, in file order.
/// Duplicate names, unknown fields and wrong types are errors.
///
/// ```
/// let json = r#"{"conv1.weight": {"shape": [64, 3, 3, 3]}, "dw.weight": {"shape": [32, 1, 3, 3], "groups": 32}}"#;
/// let specs = dirac_init::spec::parse_spec(json).unwrap();
/// assert_eq!(specs[1].0, "dw.weight");
/// assert!(dirac_init::spec::parse_spec(r#"{"a": {"shape": [2, 2], "size": 3}}"#).is_err());
/// ```
pub fn parse_spec(json: &str) -> Result<Vec<(String, TensorSpec)>, Error> {
    struct Specs;
    impl<'de> Visitor<'de> for Specs {
        type Value = Vec<(String, TensorSpec)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object from tensor names to {\"shape\": [...], ...}")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut specs: Vec<(String, TensorSpec)> = Vec::new();
            while let Some(name) = map.next_key::<String>()? {
                if specs.iter().any(|(n, _)| *n == name) {
                    return Err(de::Error::custom(format!(
                        "the tensor name '{name}' is given twice"
                    )));
                }
                let spec = map.next_value()?;
                specs.push((name, spec));
            }
            Ok(specs)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let specs = de::Deserializer::deserialize_map(&mut de, Specs)
        .and_then(|s| de.end().map(|_| s))
        .map_err(|e| Error::Input(format!("bad spec: {e}")))?;
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_fields_override_defaults() {
        let specs = parse_spec(
            r#"{"dw.weight": {"shape": [32, 1, 3, 3], "groups": 32, "dtype": "f16", "layout": "oihw", "gain": 1}}"#,
        )
        .unwrap();
        let t = specs[0]
            .1
            .resolve("dw.weight", &Defaults::default())
            .unwrap();
        assert_eq!(t.request.dtype(), Dtype::F16);
        assert_eq!(t.request.groups(), 32);
    }

    #[test]
    fn bad_specs_are_refused() {
        for bad in [
            "",
            "[]",
            r#"{"a": {"shape": [2, 2]}, "a": {"shape": [3, 3]}}"#,
            r#"{"a": {"shape": "2x2"}}"#,
            r#"{"a": {"groups": 2}}"#,
            r#"{"a": {"shape": [2, 2], "dtype": "f7"}}"#,
            r#"{"a": {"shape": [2, 2], "gain": "x"}}"#,
            r#"{"a": {"shape": [2, -2]}}"#,
            r#"{"a": {"shape": [2, 2]}} trailing"#,
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tensor_args_parse_all_keys() {
        let (name, spec) =
            TensorSpec::parse_arg("k=3x3x8x16:layout=hwio:gain=-0.5:groups=2:dtype=bf16").unwrap();
        let t = spec.resolve(&name, &Defaults::default()).unwrap();
        assert_eq!(t.request.layout(), Layout::Hwio);
        assert_eq!(t.request.gain().value(), -0.5);
        for bad in [
            "=2x2",
            "a=2x2:groups",
            "a=2x2:size=3",
            "a=",
            "a=2x2:groups=x",
        ] {
            assert!(TensorSpec::parse_arg(bad).is_err(), "{bad}");
        }
    }
}
