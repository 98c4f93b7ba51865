//! `.npz`: a zip of `NAME.npy` members, stored uncompressed and written as a stream by the zip
//! crate, so no tensor is ever held in memory.

use std::io::Write;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::error::{Error, io};
use crate::format::{Tensor, npy};
use crate::sink::stream_data;

/// Writes `tensors` as an `.npz` archive to `out`, members in the order given.
///
/// Every header is made before the first byte is written, so a tensor that `.npy` cannot
/// hold fails without output. Entries carry a fixed 1980-01-01 time: the same command gives
/// the same bytes.
///
/// ```
/// use dirac_init::{Request, Tensor};
/// let ts = [Tensor::new("a", Request::builder(vec![2, 2]).build().unwrap())];
/// let mut out = Vec::new();
/// dirac_init::format::npz::write(&ts, &mut out).unwrap();
/// assert!(out.starts_with(b"PK"));
/// ```
pub fn write<W: Write>(tensors: &[Tensor], out: W) -> Result<(), Error> {
    let headers = tensors
        .iter()
        .map(|t| npy::header(&t.request))
        .collect::<Result<Vec<_>, _>>()?;
    let mut zip = ZipWriter::new_stream(out);
    let result = write_members(&mut zip, tensors, headers);
    match result {
        Ok(()) => zip
            .finish()
            .map_err(zip_err)?
            .flush()
            .map_err(io("writing .npz")),
        Err(e) => {
            // Dropping an unfinished ZipWriter finalizes it and prints to stderr; the output is
            // abandoned anyway, so skip that.
            std::mem::forget(zip);
            Err(e)
        }
    }
}

fn zip_err(e: zip::result::ZipError) -> Error {
    Error::Io("writing .npz".into(), std::io::Error::other(e))
}

fn write_members<W: Write>(
    zip: &mut ZipWriter<zip::write::StreamWriter<W>>,
    tensors: &[Tensor],
    headers: Vec<Vec<u8>>,
) -> Result<(), Error> {
    for (t, header) in tensors.iter().zip(headers) {
        let size = header.len() as u64 + t.request.byte_len();
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .last_modified_time(DateTime::default())
            // zip64 sizes for members of 4 GiB and more
            .large_file(size >= u32::MAX as u64);
        zip.start_file(format!("{}.npy", t.name), options)
            .map_err(zip_err)?;
        zip.write_all(&header).map_err(io("writing .npz"))?;
        stream_data(&t.request, zip).map_err(io("writing .npz"))?;
    }
    Ok(())
}
