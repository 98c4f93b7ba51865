//! Dirac-initialized weight tensors (Zagoruyko & Komodakis, DiracNets, arXiv:1706.00388),
//! written to `.npy`, `.safetensors` and `.npz` files without ever holding the tensor in memory.
//!
//! A Dirac kernel is the identity of convolution: a layer initialized with it passes its input
//! through unchanged on as many channels as it can. The single source of truth is
//! [`Request::offsets`], the ascending flat offsets of the non-zero elements; the dense array,
//! the sparse file and the stream are three ways of laying out the same bytes.
//!
//! ```
//! use dirac_init::{Dtype, Request};
//! let req = Request::builder(vec![6, 4, 3, 3]).groups(2).dtype(Dtype::F16).build().unwrap();
//! assert_eq!(req.offsets().collect::<Vec<_>>(), [4, 49, 94, 112, 157, 202]);
//! let dense = req.to_array(0u8, 1u8);
//! assert_eq!(dense[[3, 0, 1, 1]], 1);
//! ```

#![warn(missing_docs)]

pub mod checkpoint;
mod dirac;
mod dtype;
mod error;
pub mod format;
mod output;
mod request;
mod sink;
pub mod spec;

pub use dtype::{Dtype, Element, Gain};
pub use error::Error;
pub use format::{Format, Tensor};
pub use output::{Output, Target};
pub use request::{Layout, Request, RequestBuilder, parse_dims};
pub use sink::{
    AtomicFile, Piece, SparseWriter, remove_pending, stream_data, write_sparse, write_sparse_at,
    write_stream,
};
