//! Output formats: each module knows its header and where each tensor's bytes go.

pub mod npy;
pub mod npz;
pub mod safetensors;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::Error;
use crate::request::Request;

/// A file format dirac-init writes.
///
/// ```
/// use dirac_init::Format;
/// use std::path::Path;
/// assert_eq!(Format::from_path(Path::new("w.safetensors")).unwrap(), Format::Safetensors);
/// assert_eq!("npz".parse::<Format>().unwrap(), Format::Npz);
/// assert!(Format::from_path(Path::new("w.bin")).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// NumPy's `.npy`: one tensor.
    Npy,
    /// `.safetensors`: any number of tensors, with optional metadata.
    Safetensors,
    /// NumPy's `.npz`: a zip of `.npy` members, stored uncompressed.
    Npz,
}

const ALLOWED: &str = "npy, safetensors, npz";

impl Format {
    /// The format named by a path's extension.
    pub fn from_path(path: &Path) -> Result<Format, Error> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        ext.parse().map_err(|_| {
            Error::Usage(format!(
                "cannot tell the format of '{}' from its extension (allowed: .npy, .safetensors, .npz; or give --format)",
                path.display()
            ))
        })
    }
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "npy" => Ok(Format::Npy),
            "safetensors" => Ok(Format::Safetensors),
            "npz" => Ok(Format::Npz),
            _ => Err(Error::Usage(format!(
                "unknown format '{s}' (allowed: {ALLOWED})"
            ))),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Npy => "npy",
            Format::Safetensors => "safetensors",
            Format::Npz => "npz",
        })
    }
}

/// A request with the name it is stored under.
///
/// ```
/// use dirac_init::{Request, Tensor};
/// let t = Tensor::new("conv1.weight", Request::builder(vec![8, 3, 3, 3]).build().unwrap());
/// assert_eq!(t.name, "conv1.weight");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The tensor's name (the safetensors key, or the `.npz` member without `.npy`).
    pub name: String,
    /// What to make.
    pub request: Request,
}

impl Tensor {
    /// Names a request.
    pub fn new(name: impl Into<String>, request: Request) -> Tensor {
        Tensor {
            name: name.into(),
            request,
        }
    }
}

/// Checks that every name is non-empty and given once.
pub(crate) fn check_names(tensors: &[Tensor]) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for t in tensors {
        if t.name.is_empty() {
            return Err(Error::Usage(
                "a tensor name is empty (allowed: any non-empty name)".into(),
            ));
        }
        if !seen.insert(&t.name) {
            return Err(Error::Usage(format!(
                "the tensor name '{}' is given twice (allowed: each name once)",
                t.name
            )));
        }
    }
    Ok(())
}
