//! The Dirac math, once: the ascending flat offsets of the non-zero elements.
//!
//! Layout oihw, shape (O, I, k1, ..., kn), groups G: for every g < G and d < min(O/G, I),
//! `W[g*(O/G) + d, d, k1//2, ..., kn//2] = gain`, everything else 0. Layout hwio is the same
//! tensor transposed to (k1, ..., kn, I, O). Everything else (dense arrays, sparse files,
//! streams) is built from [`Request::offsets`].

use ndarray::{ArrayD, IxDyn};

use crate::request::{Layout, Request};

impl Request {
    /// The number of non-zero elements: G * min(O/G, I).
    ///
    /// ```
    /// let req = dirac_init::Request::builder(vec![6, 4, 3, 3]).groups(2).build().unwrap();
    /// assert_eq!(req.nonzeros(), 6);
    /// ```
    pub fn nonzeros(&self) -> u64 {
        let per_group = self.out_channels() / self.groups();
        (self.groups() * per_group.min(self.in_channels())) as u64
    }

    /// The flat C-order offsets (in elements) of the non-zero elements, ascending.
    ///
    /// ```
    /// let req = dirac_init::Request::builder(vec![6, 4, 3, 3]).groups(2).build().unwrap();
    /// let offsets: Vec<u64> = req.offsets().collect();
    /// assert_eq!(offsets, [4, 49, 94, 112, 157, 202]);
    /// ```
    pub fn offsets(&self) -> impl Iterator<Item = u64> + Clone + use<> {
        let groups = self.groups() as u64;
        let o = self.out_channels() as u64;
        let i = self.in_channels() as u64;
        let per_group = o / groups;
        let depth = per_group.min(i);
        let spatial = self.spatial();
        let k: u64 = spatial.iter().map(|&k| k as u64).product();
        // C-order offset of the centre (k1//2, ..., kn//2) within the spatial block.
        let centre = spatial
            .iter()
            .fold(0u64, |acc, &k| acc * k as u64 + (k / 2) as u64);
        let layout = self.layout();
        // Both loops are arranged so that the offsets come out ascending.
        (0..groups * depth).map(move |n| match layout {
            Layout::Oihw => {
                let (g, d) = (n / depth, n % depth);
                ((g * per_group + d) * i + d) * k + centre
            }
            Layout::Hwio => {
                let (d, g) = (n / groups, n % groups);
                centre * i * o + d * o + g * per_group + d
            }
        })
    }

    /// The dense array, with `value` at the non-zeros and `zero` elsewhere.
    ///
    /// Holds the whole tensor in memory: the writers never call it, it is here for callers
    /// who want an `ndarray`.
    ///
    /// ```
    /// let req = dirac_init::Request::builder(vec![2, 3]).build().unwrap();
    /// let a = req.to_array(0.0f32, 1.0);
    /// assert_eq!(a, ndarray::array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]].into_dyn());
    /// ```
    pub fn to_array<A: Clone>(&self, zero: A, value: A) -> ArrayD<A> {
        let mut array = ArrayD::from_elem(IxDyn(self.shape()), zero);
        let flat = array
            .as_slice_mut()
            .expect("a new array is contiguous in C order");
        for offset in self.offsets() {
            flat[offset as usize] = value.clone();
        }
        array
    }

    /// The tensor's data as little-endian bytes, built densely in memory.
    ///
    /// ```
    /// use dirac_init::{Dtype, Request};
    /// let req = Request::builder(vec![2, 2]).dtype(Dtype::U8).build().unwrap();
    /// assert_eq!(req.to_bytes(), [1, 0, 0, 1]);
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let element = self.element();
        let element = element.as_bytes();
        let zero = vec![0u8; element.len()];
        self.to_array(&zero[..], element)
            .iter()
            .flat_map(|e| e.iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_from_the_design_notes() {
        let req = Request::builder(vec![6, 4, 3, 3])
            .groups(2)
            .build()
            .unwrap();
        let a = req.to_array(0, 1);
        for idx in [[0, 0, 1, 1], [1, 1, 1, 1], [2, 2, 1, 1], [3, 0, 1, 1]] {
            assert_eq!(a[&idx[..]], 1);
        }
        assert_eq!(a.sum(), 6);
    }

    #[test]
    fn two_dims_is_the_identity_even_when_rectangular() {
        let req = Request::builder(vec![3, 5]).build().unwrap();
        let a = req.to_array(0, 1);
        for ((r, c), v) in a
            .into_dimensionality::<ndarray::Ix2>()
            .unwrap()
            .indexed_iter()
        {
            assert_eq!(*v, (r == c) as i32);
        }
    }

    #[test]
    fn even_kernels_use_k_div_2_as_centre() {
        let req = Request::builder(vec![1, 1, 4, 2]).build().unwrap();
        // centre (2, 1) in a 4x2 block
        assert_eq!(req.offsets().collect::<Vec<_>>(), [2 * 2 + 1]);
    }

    #[test]
    fn hwio_offsets_of_the_worked_example() {
        let req = Request::builder(vec![3, 3, 4, 6])
            .layout(Layout::Hwio)
            .groups(2)
            .build()
            .unwrap();
        let centre = 4 * 4 * 6;
        // (d, g*3 + d) for d in 0..3, g in 0..2, ascending
        let expect: Vec<u64> = [(0, 0), (0, 3), (1, 1), (1, 4), (2, 2), (2, 5)]
            .iter()
            .map(|&(d, o)| centre + d * 6 + o)
            .collect();
        assert_eq!(req.offsets().collect::<Vec<_>>(), expect);
    }
}
