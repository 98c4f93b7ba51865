//! `.npz`: a zip of `NAME.npy` members, stored uncompressed and written as a stream by the zip
//! crate, so no tensor is ever held in memory.

use std::io::{self, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::error::Error;
use crate::format::{Tensor, check_names, npy};
use crate::sink::stream_data;

/// Every member's `.npy` header, in order: made before the first byte is written, so a
/// tensor that `.npy` cannot hold (or a repeated name) fails without output.
///
/// ```
/// use dirac_init::{Dtype, Request, Tensor};
/// let bf16 = Request::builder(vec![2, 2]).dtype(Dtype::BF16).build().unwrap();
/// assert!(dirac_init::format::npz::headers(&[Tensor::new("a", bf16)]).is_err());
/// ```
pub fn headers(tensors: &[Tensor]) -> Result<Vec<Vec<u8>>, Error> {
    check_names(tensors)?;
    tensors.iter().map(|t| npy::header(&t.request)).collect()
}

/// Writes `tensors` with their [`headers`] as an `.npz` archive to `out`, members in the
/// order given. Entries carry a fixed 1980-01-01 time: the same command gives the same bytes.
///
/// ```
/// use dirac_init::{Request, Tensor};
/// use dirac_init::format::npz;
/// let ts = [Tensor::new("a", Request::builder(vec![2, 2]).build().unwrap())];
/// let mut out = Vec::new();
/// npz::write(&ts, &npz::headers(&ts).unwrap(), &mut out).unwrap();
/// assert!(out.starts_with(b"PK"));
/// ```
pub fn write<W: Write>(tensors: &[Tensor], headers: &[Vec<u8>], out: W) -> io::Result<()> {
    let mut zip = ZipWriter::new_stream(out);
    match write_members(&mut zip, tensors, headers) {
        Ok(()) => zip.finish().map_err(io::Error::other)?.flush(),
        Err(e) => {
            // Dropping an unfinished ZipWriter finalizes it and prints to stderr; the output is
            // abandoned anyway, so skip that.
            std::mem::forget(zip);
            Err(e)
        }
    }
}

fn write_members<W: Write>(
    zip: &mut ZipWriter<zip::write::StreamWriter<W>>,
    tensors: &[Tensor],
    headers: &[Vec<u8>],
) -> io::Result<()> {
    for (t, header) in tensors.iter().zip(headers) {
        let size = header.len() as u64 + t.request.byte_len();
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .last_modified_time(DateTime::default())
            // zip64 sizes for members of 4 GiB and more
            .large_file(size >= u32::MAX as u64);
        zip.start_file(format!("{}.npy", t.name), options)
            .map_err(io::Error::other)?;
        zip.write_all(header)?;
        stream_data(&t.request, zip)?;
    }
    Ok(())
}
