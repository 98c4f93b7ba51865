//! Element types: their names, sizes, file-format codes and how the gain is encoded.

use std::fmt;
use std::str::FromStr;

use float8::{F8E4M3, F8E5M2};
use half::{bf16, f16};

use crate::error::Error;

/// The element type of a tensor.
///
/// Parsed from the short names (`f32`, `bf16`, `f8e4m3`, ...) and the numpy / PyTorch spellings
/// (`float32`, `bfloat16`, `float8_e4m3fn`, ...).
///
/// ```
/// use dirac_init::Dtype;
/// let dtype: Dtype = "bfloat16".parse().unwrap();
/// assert_eq!(dtype, Dtype::BF16);
/// assert_eq!(dtype.size(), 2);
/// assert_eq!(dtype.npy_descr(), None); // numpy has no bf16
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// IEEE single precision.
    F32,
    /// IEEE double precision.
    F64,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// Boolean, one byte (0 or 1).
    Bool,
    /// 8-bit float, 4 exponent and 3 mantissa bits, no infinities (`float8_e4m3fn`).
    F8E4M3,
    /// 8-bit float, 5 exponent and 2 mantissa bits (`float8_e5m2`).
    F8E5M2,
}

/// Every dtype with its canonical name first, then its aliases.
const NAMES: &[(Dtype, &[&str])] = &[
    (Dtype::F16, &["f16", "float16", "half"]),
    (Dtype::BF16, &["bf16", "bfloat16"]),
    (Dtype::F32, &["f32", "float32", "float"]),
    (Dtype::F64, &["f64", "float64", "double"]),
    (Dtype::I8, &["i8", "int8"]),
    (Dtype::I16, &["i16", "int16"]),
    (Dtype::I32, &["i32", "int32"]),
    (Dtype::I64, &["i64", "int64"]),
    (Dtype::U8, &["u8", "uint8"]),
    (Dtype::U16, &["u16", "uint16"]),
    (Dtype::U32, &["u32", "uint32"]),
    (Dtype::U64, &["u64", "uint64"]),
    (Dtype::Bool, &["bool"]),
    (Dtype::F8E4M3, &["f8e4m3", "float8_e4m3fn"]),
    (Dtype::F8E5M2, &["f8e5m2", "float8_e5m2"]),
];

/// The largest finite float8_e4m3fn value (0x7E).
const F8E4M3_MAX: f64 = 448.0;
/// The largest finite float8_e5m2 value (0x7B).
const F8E5M2_MAX: f64 = 57344.0;

/// An encoded element: up to 8 little-endian bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element {
    bytes: [u8; 8],
    len: u8,
}

impl Element {
    fn new(le: &[u8]) -> Self {
        let mut bytes = [0; 8];
        bytes[..le.len()].copy_from_slice(le);
        Element {
            bytes,
            len: le.len() as u8,
        }
    }

    /// The element's little-endian bytes.
    ///
    /// ```
    /// use dirac_init::{Dtype, Gain};
    /// let one = Dtype::F16.encode(&Gain::ONE).unwrap();
    /// assert_eq!(one.as_bytes(), &[0x00, 0x3C]);
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// The value of the non-zero entries, as the user wrote it.
///
/// Kept as text as well as a float so that integer dtypes get exact values beyond 2^53.
///
/// ```
/// use dirac_init::Gain;
/// let gain: Gain = "-1.5".parse().unwrap();
/// assert_eq!(gain.value(), -1.5);
/// assert!("nan".parse::<Gain>().is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Gain {
    value: f64,
    integer: Option<i128>,
    text: String,
}

impl Gain {
    /// The default gain, 1.
    pub const ONE: Gain = Gain {
        value: 1.0,
        integer: Some(1),
        text: String::new(),
    };

    /// The gain as a float.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The gain as the user wrote it.
    pub fn text(&self) -> String {
        if self.text.is_empty() {
            self.value.to_string()
        } else {
            self.text.clone()
        }
    }

    /// The gain as an exact integer, if it is one.
    fn integer(&self) -> Option<i128> {
        if let Some(i) = self.integer {
            return Some(i);
        }
        // 2^63 and beyond are exact floats but out of range of every integer type we write.
        (self.value.fract() == 0.0 && self.value.abs() < 1.9e19).then_some(self.value as i128)
    }
}

/// Gains are equal when they give the same value, however they were written.
impl PartialEq for Gain {
    fn eq(&self, other: &Self) -> bool {
        self.value.to_bits() == other.value.to_bits() && self.integer() == other.integer()
    }
}

impl From<f64> for Gain {
    fn from(value: f64) -> Self {
        Gain {
            value,
            integer: None,
            text: value.to_string(),
        }
    }
}

impl FromStr for Gain {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Gain(format!("'{s}' {why}"));
        let t = s.trim();
        let integer = t.parse::<i128>().ok();
        let value: f64 = match integer {
            Some(i) => i as f64,
            None => t
                .parse()
                .map_err(|_| bad("is not a number (expected e.g. 1, 0.5, -2)"))?,
        };
        if !value.is_finite() {
            return Err(bad("is not finite (expected a finite number)"));
        }
        Ok(Gain {
            value,
            integer,
            text: t.to_string(),
        })
    }
}

impl fmt::Display for Gain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl Dtype {
    /// Every dtype, in the order the help text lists them.
    pub const ALL: [Dtype; 15] = [
        Dtype::F16,
        Dtype::BF16,
        Dtype::F32,
        Dtype::F64,
        Dtype::I8,
        Dtype::I16,
        Dtype::I32,
        Dtype::I64,
        Dtype::U8,
        Dtype::U16,
        Dtype::U32,
        Dtype::U64,
        Dtype::Bool,
        Dtype::F8E4M3,
        Dtype::F8E5M2,
    ];

    /// The canonical short name (`f32`, `bf16`, ...).
    ///
    /// ```
    /// assert_eq!(dirac_init::Dtype::F8E4M3.name(), "f8e4m3");
    /// ```
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(d, _)| *d == self)
            .expect("every dtype is named")
            .1[0]
    }

    /// Bytes per element.
    ///
    /// ```
    /// assert_eq!(dirac_init::Dtype::F64.size(), 8);
    /// ```
    pub fn size(self) -> usize {
        match self {
            Dtype::I8 | Dtype::U8 | Dtype::Bool | Dtype::F8E4M3 | Dtype::F8E5M2 => 1,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 | Dtype::U16 => 2,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
        }
    }

    /// The numpy type code (`<f4`, `|b1`, ...), or `None` where numpy has no such dtype.
    ///
    /// ```
    /// assert_eq!(dirac_init::Dtype::U64.npy_descr(), Some("<u8"));
    /// ```
    pub fn npy_descr(self) -> Option<&'static str> {
        Some(match self {
            Dtype::F16 => "<f2",
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::I8 => "|i1",
            Dtype::I16 => "<i2",
            Dtype::I32 => "<i4",
            Dtype::I64 => "<i8",
            Dtype::U8 => "|u1",
            Dtype::U16 => "<u2",
            Dtype::U32 => "<u4",
            Dtype::U64 => "<u8",
            Dtype::Bool => "|b1",
            Dtype::BF16 | Dtype::F8E4M3 | Dtype::F8E5M2 => return None,
        })
    }

    /// The safetensors dtype code.
    ///
    /// ```
    /// use dirac_init::Dtype;
    /// assert_eq!(Dtype::F8E4M3.safetensors(), safetensors::Dtype::F8_E4M3);
    /// ```
    pub fn safetensors(self) -> safetensors::Dtype {
        use safetensors::Dtype as S;
        match self {
            Dtype::F16 => S::F16,
            Dtype::BF16 => S::BF16,
            Dtype::F32 => S::F32,
            Dtype::F64 => S::F64,
            Dtype::I8 => S::I8,
            Dtype::I16 => S::I16,
            Dtype::I32 => S::I32,
            Dtype::I64 => S::I64,
            Dtype::U8 => S::U8,
            Dtype::U16 => S::U16,
            Dtype::U32 => S::U32,
            Dtype::U64 => S::U64,
            Dtype::Bool => S::BOOL,
            Dtype::F8E4M3 => S::F8_E4M3,
            Dtype::F8E5M2 => S::F8_E5M2,
        }
    }

    /// The dtype for a safetensors dtype code, if dirac-init can write it.
    ///
    /// ```
    /// use dirac_init::Dtype;
    /// assert_eq!(Dtype::from_safetensors(safetensors::Dtype::BF16), Some(Dtype::BF16));
    /// assert_eq!(Dtype::from_safetensors(safetensors::Dtype::C64), None);
    /// ```
    pub fn from_safetensors(code: safetensors::Dtype) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.safetensors() == code)
    }

    /// Encodes `gain` as one little-endian element of this dtype.
    ///
    /// Fails where the gain is not representable: a fraction or out of range for an integer
    /// type, anything but 0 or 1 for bool, beyond the largest finite value of a float type.
    ///
    /// ```
    /// use dirac_init::{Dtype, Gain};
    /// assert_eq!(Dtype::F8E4M3.encode(&Gain::ONE).unwrap().as_bytes(), &[0x38]);
    /// assert!(Dtype::U8.encode(&"-1".parse().unwrap()).is_err());
    /// assert!(Dtype::F16.encode(&"70000".parse().unwrap()).is_err());
    /// ```
    pub fn encode(self, gain: &Gain) -> Result<Element, Error> {
        let g = gain.value();
        // `rounded` is the gain as the dtype stores it.
        let float = |max: f64, rounded: f64| {
            if g.abs() > max {
                Err(Error::Gain(format!(
                    "{gain} is out of range for {self} (allowed: -{max} to {max})"
                )))
            } else if rounded == 0.0 && g != 0.0 {
                Err(Error::Gain(format!(
                    "{gain} is too small for {self}: it would be stored as 0 (allowed: 0, or a magnitude {self} can hold)"
                )))
            } else {
                Ok(())
            }
        };
        let int = |min: i128, max: i128| -> Result<i128, Error> {
            match gain.integer() {
                Some(i) if (min..=max).contains(&i) => Ok(i),
                Some(_) => Err(Error::Gain(format!(
                    "{gain} is out of range for {self} (allowed: integers from {min} to {max})"
                ))),
                None => Err(Error::Gain(format!(
                    "{gain} is not an integer, as {self} needs (allowed: integers from {min} to {max})"
                ))),
            }
        };
        Ok(match self {
            Dtype::F16 => {
                let v = f16::from_f64(g);
                float(f16::MAX.to_f64(), v.to_f64())?;
                Element::new(&v.to_le_bytes())
            }
            Dtype::BF16 => {
                let v = bf16::from_f64(g);
                float(bf16::MAX.to_f64(), v.to_f64())?;
                Element::new(&v.to_le_bytes())
            }
            Dtype::F32 => {
                float(f32::MAX as f64, g as f32 as f64)?;
                Element::new(&(g as f32).to_le_bytes())
            }
            Dtype::F64 => Element::new(&g.to_le_bytes()),
            // float8's MAX constants are one code short (0x7D, 0x7A): the formats' maxima are
            // spelled out here.
            Dtype::F8E4M3 => {
                let v = F8E4M3::from_f64(g);
                float(F8E4M3_MAX, v.to_f64())?;
                Element::new(&[v.to_bits()])
            }
            Dtype::F8E5M2 => {
                let v = F8E5M2::from_f64(g);
                float(F8E5M2_MAX, v.to_f64())?;
                Element::new(&[v.to_bits()])
            }
            Dtype::I8 => Element::new(&(int(i8::MIN.into(), i8::MAX.into())? as i8).to_le_bytes()),
            Dtype::I16 => {
                Element::new(&(int(i16::MIN.into(), i16::MAX.into())? as i16).to_le_bytes())
            }
            Dtype::I32 => {
                Element::new(&(int(i32::MIN.into(), i32::MAX.into())? as i32).to_le_bytes())
            }
            Dtype::I64 => {
                Element::new(&(int(i64::MIN.into(), i64::MAX.into())? as i64).to_le_bytes())
            }
            Dtype::U8 => Element::new(&(int(0, u8::MAX.into())? as u8).to_le_bytes()),
            Dtype::U16 => Element::new(&(int(0, u16::MAX.into())? as u16).to_le_bytes()),
            Dtype::U32 => Element::new(&(int(0, u32::MAX.into())? as u32).to_le_bytes()),
            Dtype::U64 => Element::new(&(int(0, u64::MAX.into())? as u64).to_le_bytes()),
            Dtype::Bool => match gain.integer() {
                Some(i @ (0 | 1)) => Element::new(&[i as u8]),
                _ => {
                    return Err(Error::Gain(format!(
                        "{gain} is not a bool value (allowed: 0 or 1)"
                    )));
                }
            },
        })
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dtype {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        let lower = lower.strip_prefix("torch.").unwrap_or(&lower);
        NAMES
            .iter()
            .find(|(_, names)| names.contains(&lower))
            .map(|(d, _)| *d)
            .ok_or_else(|| Error::Dtype(s.to_string()))
    }
}

/// The list of accepted dtype names, for messages and help.
pub(crate) fn dtype_names() -> String {
    Dtype::ALL.map(Dtype::name).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(d: Dtype, g: &str) -> Result<Vec<u8>, Error> {
        d.encode(&g.parse()?).map(|e| e.as_bytes().to_vec())
    }

    #[test]
    fn one_encodes_as_documented() {
        assert_eq!(enc(Dtype::BF16, "1").unwrap(), [0x80, 0x3F]);
        assert_eq!(enc(Dtype::F16, "1").unwrap(), [0x00, 0x3C]);
        assert_eq!(enc(Dtype::F8E4M3, "1").unwrap(), [0x38]);
        assert_eq!(enc(Dtype::F8E5M2, "1").unwrap(), [0x3C]);
        assert_eq!(enc(Dtype::F32, "1").unwrap(), 1f32.to_le_bytes());
        assert_eq!(enc(Dtype::Bool, "1").unwrap(), [1]);
    }

    #[test]
    fn every_dtype_has_a_size_matching_its_encoding() {
        for d in Dtype::ALL {
            assert_eq!(enc(d, "1").unwrap().len(), d.size(), "{d}");
            assert_eq!(d.name().parse::<Dtype>().unwrap(), d);
            assert_eq!(Dtype::from_safetensors(d.safetensors()), Some(d));
        }
    }

    #[test]
    fn integer_gains_are_exact_and_checked() {
        assert_eq!(
            enc(Dtype::I64, "9223372036854775807").unwrap(),
            i64::MAX.to_le_bytes()
        );
        assert_eq!(
            enc(Dtype::U64, "18446744073709551615").unwrap(),
            u64::MAX.to_le_bytes()
        );
        assert_eq!(enc(Dtype::I8, "-128").unwrap(), [0x80]);
        assert_eq!(enc(Dtype::I32, "1e3").unwrap(), 1000i32.to_le_bytes());
        assert!(enc(Dtype::I8, "128").is_err());
        assert!(enc(Dtype::I8, "0.5").is_err());
        assert!(enc(Dtype::U16, "-1").is_err());
        assert!(enc(Dtype::U64, "18446744073709551616").is_err());
        assert!(enc(Dtype::Bool, "2").is_err());
        assert!(enc(Dtype::Bool, "0.5").is_err());
        assert_eq!(enc(Dtype::Bool, "0").unwrap(), [0]);
    }

    #[test]
    fn float_ranges_are_checked() {
        assert!(enc(Dtype::F16, "65504").is_ok());
        assert!(enc(Dtype::F16, "65520").is_err());
        assert!(enc(Dtype::F8E4M3, "448").is_ok());
        assert!(enc(Dtype::F8E4M3, "-449").is_err());
        assert!(enc(Dtype::F8E5M2, "57344").is_ok());
        assert!(enc(Dtype::F8E5M2, "60000").is_err());
        assert!(enc(Dtype::F32, "1e39").is_err());
        assert!(enc(Dtype::F64, "1e300").is_ok());
        assert_eq!(enc(Dtype::F8E4M3, "-448").unwrap(), [0xFE]);
        assert_eq!(enc(Dtype::F8E5M2, "57344").unwrap(), [0x7B]);
        assert!(enc(Dtype::F8E4M3, "0.0009765625").is_err());
        assert!(enc(Dtype::F16, "1e-10").is_err());
        assert_eq!(enc(Dtype::F16, "0").unwrap(), [0, 0]);
    }

    #[test]
    fn gains_compare_by_value() {
        assert_eq!("1".parse::<Gain>().unwrap(), Gain::ONE);
        assert_eq!("1.0".parse::<Gain>().unwrap(), Gain::from(1.0));
        assert_ne!("2".parse::<Gain>().unwrap(), Gain::ONE);
    }

    #[test]
    fn gains_that_are_not_numbers_are_refused() {
        for bad in ["nan", "inf", "-inf", "", "one", "1e999"] {
            assert!(bad.parse::<Gain>().is_err(), "{bad}");
        }
    }

    #[test]
    fn aliases_parse() {
        for (s, d) in [
            ("half", Dtype::F16),
            ("float", Dtype::F32),
            ("double", Dtype::F64),
            ("uint8", Dtype::U8),
            ("float8_e4m3fn", Dtype::F8E4M3),
            ("torch.float8_e5m2", Dtype::F8E5M2),
            ("BF16", Dtype::BF16),
        ] {
            assert_eq!(s.parse::<Dtype>().unwrap(), d, "{s}");
        }
        assert!("f7".parse::<Dtype>().is_err());
    }
}
