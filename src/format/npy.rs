//! `.npy`: ndarray-npy's header, then the data in C order.

use ndarray_npy::npy::header::{Header, Layout};
use py_literal::Value;

use crate::error::Error;
use crate::request::Request;
use crate::sink::Piece;

/// The most dimensions numpy reads (`NPY_MAXDIMS`).
pub const MAX_DIMS: usize = 64;

/// The `.npy` header for `req`: magic, version, and the dict padded to a multiple of 64.
///
/// ```
/// let req = dirac_init::Request::builder(vec![64, 64, 3, 3]).build().unwrap();
/// let header = dirac_init::format::npy::header(&req).unwrap();
/// assert!(header.starts_with(b"\x93NUMPY\x01\x00"));
/// assert_eq!(header.len() % 64, 0);
/// ```
pub fn header(req: &Request) -> Result<Vec<u8>, Error> {
    let descr = req.dtype().npy_descr().ok_or_else(|| {
        Error::Unsupported(format!(
            "numpy has no {} dtype, so .npy cannot hold it (allowed in .npy: every dtype but bf16, f8e4m3, f8e5m2; use --format safetensors)",
            req.dtype()
        ))
    })?;
    if req.shape().len() > MAX_DIMS {
        return Err(Error::Unsupported(format!(
            "numpy arrays have at most {MAX_DIMS} dimensions, not {} (allowed in .npy: ranks 2 to {MAX_DIMS}; use --format safetensors)",
            req.shape().len()
        )));
    }
    Header {
        type_descriptor: Value::String(descr.to_string()),
        layout: Layout::Standard,
        shape: req.shape().to_vec(),
    }
    .to_bytes()
    .map_err(|e| Error::Unsupported(format!("cannot make a .npy header: {e}")))
}

/// The pieces of a `.npy` file holding `req`.
///
/// ```
/// use dirac_init::{Request, write_stream};
/// let req = Request::builder(vec![2, 2]).build().unwrap();
/// let mut out = Vec::new();
/// write_stream(&dirac_init::format::npy::pieces(&req).unwrap(), &mut out).unwrap();
/// assert_eq!(out.len(), 128 + 16);
/// ```
pub fn pieces(req: &Request) -> Result<Vec<Piece<'_>>, Error> {
    Ok(vec![Piece::Bytes(header(req)?), Piece::Data(req)])
}
