//! Reading only the header of an existing `.safetensors` checkpoint (for `--like`).
//!
//! The header is bounded before anything is allocated (at most the 100 MB that the
//! safetensors library itself accepts, and never more than the file holds), then validated by
//! the safetensors crate's `Metadata`, which checks offsets and overflowing shapes.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use safetensors::tensor::Metadata;

use crate::error::Error;
use crate::format::safetensors::MAX_HEADER;

/// One tensor of a checkpoint, as its header describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The tensor's name.
    pub name: String,
    /// Its dtype code.
    pub dtype: safetensors::Dtype,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// The tensors of the checkpoint at `path`, in file order, from its header alone.
///
/// ```
/// use dirac_init::{Format, Output, Request, Target, Tensor};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("model.safetensors");
/// let tensors = vec![Tensor::new("conv.weight", Request::builder(vec![4, 2, 3, 3]).build().unwrap())];
/// Output { format: Format::Safetensors, tensors, metadata: Default::default() }
///     .write(&Target::Path(path.clone())).unwrap();
/// let entries = dirac_init::checkpoint::read_header(&path).unwrap();
/// assert_eq!(entries[0].name, "conv.weight");
/// assert_eq!(entries[0].shape, [4, 2, 3, 3]);
/// ```
pub fn read_header(path: &Path) -> Result<Vec<Entry>, Error> {
    let shown = path.display();
    let bad =
        |why: String| Error::Input(format!("'{shown}' is not a valid .safetensors file: {why}"));
    let mut file =
        File::open(path).map_err(|e| Error::Input(format!("cannot read '{shown}': {e}")))?;
    let file_len = file
        .metadata()
        .map_err(|e| Error::Input(format!("cannot read '{shown}': {e}")))?
        .len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n).map_err(|_| {
        bad(format!(
            "it is {file_len} bytes long, shorter than the 8-byte header length"
        ))
    })?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER as u64 || n > file_len - 8 {
        return Err(bad(format!(
            "its header length {n} is over the limit of {MAX_HEADER} bytes or past the end of the {file_len}-byte file"
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .map_err(|e| bad(format!("cannot read its header: {e}")))?;
    parse_header(&header, file_len - 8 - n).map_err(bad)
}

/// Parses a header's JSON and checks that its data fills exactly `data_len` bytes.
///
/// ```
/// let json = br#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#;
/// assert_eq!(dirac_init::checkpoint::parse_header(json, 16).unwrap()[0].shape, [2, 2]);
/// assert!(dirac_init::checkpoint::parse_header(json, 15).is_err());
/// assert!(dirac_init::checkpoint::parse_header(b"{", 0).is_err());
/// ```
pub fn parse_header(header: &[u8], data_len: u64) -> Result<Vec<Entry>, String> {
    let text = std::str::from_utf8(header).map_err(|e| format!("its header is not UTF-8: {e}"))?;
    let metadata: Metadata =
        serde_json::from_str(text).map_err(|e| format!("its header is not valid: {e}"))?;
    if metadata.data_len() as u64 != data_len {
        return Err(format!(
            "its header describes {} bytes of data but the file holds {data_len}",
            metadata.data_len()
        ));
    }
    let infos = metadata.tensors();
    Ok(metadata
        .offset_keys()
        .into_iter()
        .map(|name| {
            let info = infos[&name];
            Entry {
                dtype: info.dtype,
                shape: info.shape.clone(),
                name,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn random_headers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), len in any::<u64>()) {
            let _ = parse_header(&bytes, len);
        }

        #[test]
        fn random_files_never_panic(
            claimed in prop_oneof![any::<u64>(), 0u64..400],
            body in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            std::io::Write::write_all(&mut file, &[claimed.to_le_bytes().to_vec(), body].concat()).unwrap();
            let _ = read_header(file.path());
        }

        #[test]
        fn random_json_like_headers_never_panic(
            shape in proptest::collection::vec(any::<usize>(), 0..6),
            start in any::<usize>(), end in any::<usize>(), len in any::<u64>(),
            dtype in prop::sample::select(vec!["F32", "BOOL", "F4", "C64", "X"]),
        ) {
            let json = format!(
                r#"{{"t":{{"dtype":"{dtype}","shape":{shape:?},"data_offsets":[{start},{end}]}}}}"#
            );
            let _ = parse_header(json.as_bytes(), len);
        }
    }

    #[test]
    fn a_huge_header_length_is_refused_without_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evil.safetensors");
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend(b"{}");
        std::fs::write(&path, bytes).unwrap();
        let err = read_header(&path).unwrap_err().to_string();
        assert!(err.contains("header length"), "{err}");
    }

    #[test]
    fn overflowing_shapes_are_refused() {
        let json = format!(
            r#"{{"t":{{"dtype":"F32","shape":[{},{}],"data_offsets":[0,16]}}}}"#,
            usize::MAX,
            usize::MAX
        );
        assert!(parse_header(json.as_bytes(), 16).is_err());
    }
}
