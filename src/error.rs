//! The library's typed errors. Each names the bad value and what is allowed.

use std::fmt;

/// What went wrong while validating a request or writing a file.
///
/// ```
/// use dirac_init::{Error, Request};
/// let err = Request::builder(vec![6, 4, 3, 3]).groups(4).build().unwrap_err();
/// assert!(matches!(err, Error::Groups(_)));
/// assert_eq!(err.exit_code(), 2);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A shape that is not at least 2-D with positive dimensions, or whose size overflows.
    Shape(String),
    /// Groups that are zero or do not divide the output channels.
    Groups(String),
    /// A gain that is not a finite number or not representable in the dtype.
    Gain(String),
    /// An unknown dtype name.
    Dtype(String),
    /// A dtype the chosen format cannot hold (bf16 or fp8 in .npy).
    Unsupported(String),
    /// Any other bad value or combination of options.
    Usage(String),
    /// An input file (spec, checkpoint) that cannot be read or is malformed.
    Input(String),
    /// An I/O failure while writing, with what was being written.
    Io(String, std::io::Error),
}

impl Error {
    /// The process exit code for this error: 2 for bad values, 1 for I/O failures.
    ///
    /// ```
    /// let io = dirac_init::Error::Io("w.npy".into(), std::io::ErrorKind::StorageFull.into());
    /// assert_eq!(io.exit_code(), 1);
    /// ```
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Io(..) => 1,
            _ => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(m) => write!(f, "bad shape: {m}"),
            Error::Groups(m) => write!(f, "bad groups: {m}"),
            Error::Gain(m) => write!(f, "bad gain: {m}"),
            Error::Dtype(s) => write!(
                f,
                "unknown dtype '{s}' (allowed: {}; or the numpy/torch names such as float32, bfloat16, int8, uint8, float8_e4m3fn)",
                crate::dtype::dtype_names()
            ),
            Error::Unsupported(m) | Error::Usage(m) | Error::Input(m) => f.write_str(m),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Wraps an I/O error with what was being done, for `map_err`.
pub(crate) fn io(what: impl fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Io(what.to_string(), e)
}
