//! A validated request: shape, dtype, layout, groups and gain, checked once, usable anywhere.

use std::fmt;
use std::str::FromStr;

use crate::dtype::{Dtype, Element, Gain};
use crate::error::Error;

/// How the kernel's dimensions are ordered.
///
/// ```
/// use dirac_init::Layout;
/// assert_eq!("hwio".parse::<Layout>().unwrap(), Layout::Hwio);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    /// (O, I, k1, ..., kn): PyTorch, mygrad, Paddle, Burn, Candle.
    #[default]
    Oihw,
    /// (k1, ..., kn, I, O): TensorFlow, Keras, JAX, Flax.
    Hwio,
}

impl FromStr for Layout {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "oihw" => Ok(Layout::Oihw),
            "hwio" => Ok(Layout::Hwio),
            _ => Err(Error::Usage(format!(
                "unknown layout '{s}' (allowed: oihw, hwio)"
            ))),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Oihw => "oihw",
            Layout::Hwio => "hwio",
        })
    }
}

/// One Dirac tensor to make, validated.
///
/// ```
/// use dirac_init::{Dtype, Layout, Request};
/// let req = Request::builder(vec![6, 4, 3, 3]).groups(2).build().unwrap();
/// assert_eq!(req.len(), 216);
/// assert_eq!(req.byte_len(), 864);
/// assert_eq!(req.dtype(), Dtype::F32);
/// assert_eq!(req.layout(), Layout::Oihw);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    shape: Vec<usize>,
    dtype: Dtype,
    layout: Layout,
    groups: usize,
    gain: Gain,
    element: Element,
    len: u64,
}

/// Collects the parts of a [`Request`]; [`RequestBuilder::build`] validates them.
///
/// ```
/// use dirac_init::{Dtype, Layout, Request};
/// let req = Request::builder(vec![3, 3, 8, 16])
///     .layout(Layout::Hwio)
///     .dtype(Dtype::F16)
///     .groups(2)
///     .gain("0.5".parse().unwrap())
///     .build()
///     .unwrap();
/// assert_eq!(req.out_channels(), 16);
/// ```
#[derive(Clone, Debug)]
pub struct RequestBuilder {
    shape: Vec<usize>,
    dtype: Dtype,
    layout: Layout,
    groups: usize,
    gain: Gain,
}

impl RequestBuilder {
    /// Sets the element type (default f32).
    pub fn dtype(mut self, dtype: Dtype) -> Self {
        self.dtype = dtype;
        self
    }

    /// Sets the layout (default oihw).
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Sets the number of groups (default 1).
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Sets the value of the non-zero entries (default 1).
    pub fn gain(mut self, gain: Gain) -> Self {
        self.gain = gain;
        self
    }

    /// Validates the parts and returns the request.
    pub fn build(self) -> Result<Request, Error> {
        let RequestBuilder {
            shape,
            dtype,
            layout,
            groups,
            gain,
        } = self;
        let shown = shape_text(&shape);
        if shape.len() < 2 {
            return Err(Error::Shape(format!(
                "{shown} has {} dimension(s); a Dirac kernel needs at least 2",
                shape.len()
            )));
        }
        if let Some(i) = shape.iter().position(|&d| d == 0) {
            return Err(Error::Shape(format!(
                "dimension {i} of {shown} is 0 (allowed: positive integers)"
            )));
        }
        let len = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .filter(|&n| {
                n.checked_mul(dtype.size() as u64)
                    .is_some_and(|b| b <= i64::MAX as u64 / 2)
            })
            .ok_or_else(|| {
                Error::Shape(format!(
                    "{shown} of {dtype} is too large (its byte size must stay below 2^62)"
                ))
            })?;
        let out = match layout {
            Layout::Oihw => shape[0],
            Layout::Hwio => shape[shape.len() - 1],
        };
        if groups == 0 || out % groups != 0 {
            return Err(Error::Groups(format!(
                "{groups} does not divide the {out} output channels (allowed: a divisor of {out})"
            )));
        }
        let element = dtype.encode(&gain)?;
        Ok(Request {
            shape,
            dtype,
            layout,
            groups,
            gain,
            element,
            len,
        })
    }
}

impl Request {
    /// Starts a request for `shape` (in its layout's order) with the defaults:
    /// f32, oihw, 1 group, gain 1.
    ///
    /// ```
    /// let req = dirac_init::Request::builder(vec![2, 2]).build().unwrap();
    /// assert_eq!(req.offsets().collect::<Vec<_>>(), [0, 3]);
    /// ```
    pub fn builder(shape: Vec<usize>) -> RequestBuilder {
        RequestBuilder {
            shape,
            dtype: Dtype::F32,
            layout: Layout::Oihw,
            groups: 1,
            gain: Gain::ONE,
        }
    }

    /// The shape, in the request's layout.
    ///
    /// ```
    /// let req = dirac_init::Request::builder(vec![8, 4, 3]).build().unwrap();
    /// assert_eq!(req.shape(), [8, 4, 3]);
    /// assert_eq!(req.element().as_bytes(), 1f32.to_le_bytes());
    /// ```
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The number of groups.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// The gain.
    pub fn gain(&self) -> &Gain {
        &self.gain
    }

    /// The encoded value of the non-zero entries.
    pub fn element(&self) -> Element {
        self.element
    }

    /// The number of elements.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: a valid request has at least one element.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The size of the data in bytes.
    pub fn byte_len(&self) -> u64 {
        self.len * self.dtype.size() as u64
    }

    /// The output channels O.
    ///
    /// ```
    /// use dirac_init::{Layout, Request};
    /// let hwio = Request::builder(vec![3, 3, 8, 16]).layout(Layout::Hwio).build().unwrap();
    /// assert_eq!((hwio.out_channels(), hwio.in_channels(), hwio.spatial()), (16, 8, &[3, 3][..]));
    /// ```
    pub fn out_channels(&self) -> usize {
        match self.layout {
            Layout::Oihw => self.shape[0],
            Layout::Hwio => self.shape[self.shape.len() - 1],
        }
    }

    /// The input channels per group I.
    pub fn in_channels(&self) -> usize {
        match self.layout {
            Layout::Oihw => self.shape[1],
            Layout::Hwio => self.shape[self.shape.len() - 2],
        }
    }

    /// The spatial dimensions k1, ..., kn (empty for a 2-D shape).
    pub fn spatial(&self) -> &[usize] {
        match self.layout {
            Layout::Oihw => &self.shape[2..],
            Layout::Hwio => &self.shape[..self.shape.len() - 2],
        }
    }
}

/// `64x64x3x3`, for messages.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    if shape.is_empty() {
        return "()".to_string();
    }
    shape
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("x")
}

/// Parses dimensions given as separate numbers or as one token (`64x64x3x3`, `64,64,3,3`).
///
/// ```
/// use dirac_init::parse_dims;
/// assert_eq!(parse_dims(&["64x64x3x3"]).unwrap(), [64, 64, 3, 3]);
/// assert_eq!(parse_dims(&["8", "4"]).unwrap(), [8, 4]);
/// assert!(parse_dims(&["64xx3"]).is_err());
/// ```
pub fn parse_dims<S: AsRef<str>>(tokens: &[S]) -> Result<Vec<usize>, Error> {
    let mut dims = Vec::new();
    for token in tokens {
        let token = token.as_ref();
        for part in token.split(['x', 'X', ',']) {
            let part = part.trim();
            let dim = part.parse::<usize>().map_err(|_| {
                let what = if part.is_empty() {
                    "an empty dimension".to_string()
                } else {
                    format!("'{part}'")
                };
                Error::Shape(format!(
                    "{what} in '{token}' is not a dimension (allowed: positive integers, as `64 64 3 3`, `64x64x3x3` or `64,64,3,3`)"
                ))
            })?;
            dims.push(dim);
        }
    }
    Ok(dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_shapes_are_refused() {
        assert!(Request::builder(vec![3]).build().is_err());
        assert!(Request::builder(vec![]).build().is_err());
        assert!(Request::builder(vec![3, 0, 3]).build().is_err());
        assert!(Request::builder(vec![1 << 31, 1 << 31, 4]).build().is_err());
        assert!(
            Request::builder(vec![usize::MAX, usize::MAX])
                .build()
                .is_err()
        );
    }

    #[test]
    fn groups_must_divide_out_channels() {
        assert!(Request::builder(vec![6, 4, 3]).groups(0).build().is_err());
        assert!(Request::builder(vec![6, 4, 3]).groups(4).build().is_err());
        assert!(Request::builder(vec![6, 4, 3]).groups(3).build().is_ok());
        let hwio = Request::builder(vec![3, 4, 6]).layout(Layout::Hwio);
        assert!(hwio.clone().groups(3).build().is_ok());
        assert!(hwio.groups(4).build().is_err());
    }

    #[test]
    fn dims_parse_every_way() {
        assert_eq!(parse_dims(&["64,64,3,3"]).unwrap(), [64, 64, 3, 3]);
        for bad in ["64x", "x64", "64x-3", "abc", "", "6 4"] {
            assert!(parse_dims(&[bad]).is_err(), "{bad}");
        }
    }
}
