//! `.safetensors`: u64 header length, the JSON header from the safetensors crate, then the
//! tensors' data, ordered as the safetensors library orders them.

use std::collections::{BTreeMap, HashMap};

use safetensors::tensor::{Metadata, TensorInfo};
use serde_json::Value;

use crate::error::Error;
use crate::format::{Tensor, check_names};
use crate::sink::Piece;

/// The largest header the safetensors library reads.
pub const MAX_HEADER: usize = 100_000_000;

/// The tensors in the order the safetensors library stores them: larger dtype alignment
/// first, then by name.
///
/// ```
/// use dirac_init::{Dtype, Request, Tensor};
/// let f16 = Request::builder(vec![2, 2]).dtype(Dtype::F16).build().unwrap();
/// let f32 = Request::builder(vec![2, 2]).build().unwrap();
/// let ts = [Tensor::new("a", f16), Tensor::new("b", f32)];
/// let order: Vec<_> = dirac_init::format::safetensors::ordered(&ts).iter().map(|t| &t.name).collect();
/// assert_eq!(order, ["b", "a"]);
/// ```
pub fn ordered(tensors: &[Tensor]) -> Vec<&Tensor> {
    let mut ordered: Vec<&Tensor> = tensors.iter().collect();
    ordered.sort_by(|a, b| {
        let (da, db) = (
            a.request.dtype().safetensors(),
            b.request.dtype().safetensors(),
        );
        db.cmp(&da).then_with(|| a.name.cmp(&b.name))
    });
    ordered
}

/// The header: 8 bytes of little-endian length, then the JSON padded with spaces to a
/// multiple of 8, serialized by the safetensors crate's `Metadata`. Metadata keys are sorted,
/// so the same command always gives the same bytes.
///
/// ```
/// use dirac_init::{Request, Tensor};
/// let t = Tensor::new("weight", Request::builder(vec![2, 2]).build().unwrap());
/// let header = dirac_init::format::safetensors::header(&[t], &Default::default()).unwrap();
/// let json = &header[8..];
/// assert!(json.starts_with(br#"{"weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#));
/// assert_eq!(json.len() % 8, 0);
/// ```
pub fn header(tensors: &[Tensor], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>, Error> {
    check_names(tensors)?;
    if let Some(t) = tensors.iter().find(|t| t.name == "__metadata__") {
        return Err(Error::Usage(format!(
            "'{}' cannot name a tensor: the safetensors header keeps that key for metadata",
            t.name
        )));
    }
    let mut offset = 0usize;
    let infos = ordered(tensors)
        .into_iter()
        .map(|t| {
            let len = t.request.byte_len() as usize;
            let info = TensorInfo {
                dtype: t.request.dtype().safetensors(),
                shape: t.request.shape().to_vec(),
                data_offsets: (offset, offset + len),
            };
            offset += len;
            (t.name.clone(), info)
        })
        .collect();
    let map =
        (!metadata.is_empty()).then(|| metadata.clone().into_iter().collect::<HashMap<_, _>>());
    let bad =
        |e: &dyn std::fmt::Display| Error::Usage(format!("cannot make a .safetensors header: {e}"));
    let metadata = Metadata::new(map, infos).map_err(|e| bad(&e))?;
    let mut json = serde_json::to_value(&metadata).map_err(|e| bad(&e))?;
    if let Some(Value::Object(m)) = json.get_mut("__metadata__") {
        m.sort_keys();
    }
    let mut json = serde_json::to_string(&json)
        .map_err(|e| bad(&e))?
        .into_bytes();
    json.resize(json.len().next_multiple_of(8), b' ');
    if json.len() > MAX_HEADER {
        return Err(bad(&format!(
            "its header of {} bytes is over the {MAX_HEADER} bytes that readers accept",
            json.len()
        )));
    }
    let mut header = (json.len() as u64).to_le_bytes().to_vec();
    header.extend(json);
    Ok(header)
}

/// The pieces of a `.safetensors` file holding `tensors`.
///
/// ```
/// use dirac_init::{Request, Tensor, write_stream};
/// let t = Tensor::new("w", Request::builder(vec![3, 3]).build().unwrap());
/// let ts = [t];
/// let pieces = dirac_init::format::safetensors::pieces(&ts, &Default::default()).unwrap();
/// let mut out = Vec::new();
/// write_stream(&pieces, &mut out).unwrap();
/// let st = safetensors::SafeTensors::deserialize(&out).unwrap();
/// assert_eq!(st.tensor("w").unwrap().shape(), [3, 3]);
/// ```
pub fn pieces<'a>(
    tensors: &'a [Tensor],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<Piece<'a>>, Error> {
    let mut pieces = vec![Piece::Bytes(header(tensors, metadata)?)];
    pieces.extend(
        ordered(tensors)
            .into_iter()
            .map(|t| Piece::Data(&t.request)),
    );
    Ok(pieces)
}
