//! Laws that hold for every request: the convolution identity, one non-zero per output
//! channel, hwio equals transposed oihw, and every write path gives the same bytes.

use std::os::unix::fs::FileExt;

use dirac_init::{
    Dtype, Format, Layout, Output, Piece, Request, Target, Tensor, format, write_sparse,
    write_stream,
};
use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;

/// (groups, out per group, in per group, spatial kernel dims)
fn kernel(odd_only: bool) -> impl Strategy<Value = (usize, usize, usize, Vec<usize>)> {
    let k = if odd_only {
        prop::sample::select(vec![1usize, 3, 5]).boxed()
    } else {
        (1usize..5).boxed()
    };
    (
        1usize..4,
        1usize..5,
        1usize..5,
        prop::collection::vec(k, 0..4),
    )
}

fn oihw(groups: usize, per_group: usize, i: usize, spatial: &[usize]) -> Vec<usize> {
    let mut shape = vec![groups * per_group, i];
    shape.extend_from_slice(spatial);
    shape
}

/// A grouped N-d cross-correlation with zero padding k//2 ("same" for odd kernels), as
/// PyTorch's conv computes it. `w` is (O, I, k...), `x` is (G*I, n...).
fn conv(w: &ArrayD<f64>, x: &ArrayD<f64>, groups: usize) -> ArrayD<f64> {
    let (o, i) = (w.shape()[0], w.shape()[1]);
    let ks = &w.shape()[2..];
    let ns = &x.shape()[1..];
    let mut out_shape = vec![o];
    out_shape.extend_from_slice(ns);
    let mut out = ArrayD::zeros(IxDyn(&out_shape));
    let per_group = o / groups;
    for oc in 0..o {
        let g = oc / per_group;
        for p in ndarray::indices(ns) {
            let p = p.slice().to_vec();
            let mut sum = 0.0;
            for ic in 0..i {
                for q in ndarray::indices(ks) {
                    let q = q.slice();
                    let pos: Option<Vec<usize>> = (0..ks.len())
                        .map(|a| (p[a] + q[a]).checked_sub(ks[a] / 2).filter(|&v| v < ns[a]))
                        .collect();
                    if let Some(pos) = pos {
                        let mut wi = vec![oc, ic];
                        wi.extend_from_slice(q);
                        let mut xi = vec![g * i + ic];
                        xi.extend(pos);
                        sum += w[&wi[..]] * x[&xi[..]];
                    }
                }
            }
            let mut oi = vec![oc];
            oi.extend(p);
            out[&oi[..]] = sum;
        }
    }
    out
}

/// The pieces written as a stream and as a sparse file (read back whole).
fn stream_and_sparse(pieces: &[Piece]) -> (Vec<u8>, Vec<u8>) {
    let mut stream = Vec::new();
    write_stream(pieces, &mut stream).unwrap();
    let file = tempfile::tempfile().unwrap();
    write_sparse(pieces, &file).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    let mut sparse = vec![0; len];
    file.read_exact_at(&mut sparse, 0).unwrap();
    (stream, sparse)
}

#[test]
fn large_identities_join_and_split_runs_the_same() {
    // Close non-zeros are joined into one write, far ones are not: both give the dense bytes.
    for shape in [
        vec![200, 200],
        vec![7, 3],
        vec![100, 1, 2],
        vec![40_000, 1, 1],
    ] {
        for dtype in [Dtype::F64, Dtype::U8, Dtype::BF16] {
            let req = Request::builder(shape.clone())
                .dtype(dtype)
                .build()
                .unwrap();
            let pieces = [Piece::Bytes(b"head".to_vec()), Piece::Data(&req)];
            let dense: Vec<u8> = b"head".iter().copied().chain(req.to_bytes()).collect();
            assert_eq!(
                stream_and_sparse(&pieces),
                (dense.clone(), dense),
                "{shape:?} {dtype}"
            );
        }
    }
}

fn any_dtype() -> impl Strategy<Value = Dtype> {
    prop::sample::select(Dtype::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn convolution_preserves_every_channel_it_can(
        (groups, per_group, i, ks) in kernel(true),
        input in prop::collection::vec(-100i32..100, 1..200),
        n in prop::collection::vec(1usize..5, 3),
    ) {
        let shape = oihw(groups, per_group, i, &ks);
        let w = Request::builder(shape).groups(groups).build().unwrap().to_array(0.0, 1.0);
        let mut x_shape = vec![groups * i];
        x_shape.extend_from_slice(&n[..ks.len()]);
        let x = ArrayD::from_shape_fn(IxDyn(&x_shape), |idx| {
            input[idx.slice().iter().fold(0, |a, &v| a * 7 + v) % input.len()] as f64
        });
        let y = conv(&w, &x, groups);
        for g in 0..groups {
            for d in 0..per_group.min(i) {
                let out = y.index_axis(ndarray::Axis(0), g * per_group + d);
                let inp = x.index_axis(ndarray::Axis(0), g * i + d);
                prop_assert_eq!(out, inp, "group {} channel {}", g, d);
            }
            for d in per_group.min(i)..per_group {
                prop_assert!(y.index_axis(ndarray::Axis(0), g * per_group + d).iter().all(|&v| v == 0.0));
            }
        }
    }

    #[test]
    fn each_output_channel_holds_at_most_one_nonzero(
        (groups, per_group, i, ks) in kernel(false),
    ) {
        let req = Request::builder(oihw(groups, per_group, i, &ks)).groups(groups).build().unwrap();
        let w = req.to_array(0u8, 1);
        for channel in w.outer_iter() {
            prop_assert!(channel.iter().filter(|&&v| v != 0).count() <= 1);
        }
        prop_assert_eq!(w.iter().filter(|&&v| v != 0).count() as u64, req.nonzeros());
        let offsets: Vec<u64> = req.offsets().collect();
        prop_assert!(offsets.windows(2).all(|p| p[0] < p[1]), "ascending");
    }

    #[test]
    fn hwio_is_transposed_oihw((groups, per_group, i, ks) in kernel(false)) {
        let shape = oihw(groups, per_group, i, &ks);
        let a = Request::builder(shape.clone()).groups(groups).build().unwrap().to_array(0u8, 1);
        let mut hwio_shape = ks.clone();
        hwio_shape.extend([i, groups * per_group]);
        let b = Request::builder(hwio_shape).layout(Layout::Hwio).groups(groups).build().unwrap().to_array(0u8, 1);
        let mut axes: Vec<usize> = (2..shape.len()).collect();
        axes.extend([1, 0]);
        prop_assert_eq!(a.permuted_axes(IxDyn(&axes)), b);
    }

    #[test]
    fn every_write_path_gives_the_same_bytes(
        (groups, per_group, i, ks) in kernel(false),
        dtype in any_dtype(),
        hwio in any::<bool>(),
        gain in prop::sample::select(vec!["1", "2", "0", "0.5", "-1"]),
    ) {
        let mut shape = oihw(groups, per_group, i, &ks);
        let layout = if hwio { shape.rotate_left(2); shape.swap(ks.len(), ks.len() + 1); Layout::Hwio } else { Layout::Oihw };
        let Ok(req) = Request::builder(shape).groups(groups).dtype(dtype).layout(layout).gain(gain.parse().unwrap()).build() else {
            return Ok(()); // a gain the dtype cannot hold; tested elsewhere
        };
        let tensors = [Tensor::new("weight", req.clone())];
        let mut formats = vec![Format::Safetensors];
        if dtype.npy_descr().is_some() { formats.push(Format::Npy); }
        for format in formats {
            let pieces = match format {
                Format::Npy => format::npy::pieces(&req).unwrap(),
                _ => format::safetensors::pieces(&tensors, &Default::default()).unwrap(),
            };
            // dense: the header, then the ndarray's bytes
            let dense: Vec<u8> = match &pieces[0] { Piece::Bytes(h) => h.clone(), _ => unreachable!() }
                .into_iter().chain(req.to_bytes()).collect();
            let (stream, sparse) = stream_and_sparse(&pieces);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("out");
            let output = Output { format, tensors: tensors.to_vec(), metadata: Default::default() };
            output.write(&Target::Path(path.clone())).unwrap();
            prop_assert_eq!(&stream, &dense);
            prop_assert_eq!(&sparse, &dense);
            prop_assert_eq!(&std::fs::read(&path).unwrap(), &dense);
        }
        // .npz: the sparse file and the stream agree, and ndarray-npy reads back the dense array.
        if dtype.npy_descr().is_some() {
            let output = Output { format: Format::Npz, tensors: tensors.to_vec(), metadata: Default::default() };
            let mut stream = Vec::new();
            output.write_to(&mut stream).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("out.npz");
            output.write(&Target::Path(path.clone())).unwrap();
            prop_assert_eq!(&std::fs::read(&path).unwrap(), &stream);
            if dtype == Dtype::F64 {
                let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(&path).unwrap()).unwrap();
                let a: ArrayD<f64> = npz.by_name("weight").unwrap();
                prop_assert_eq!(a, req.to_array(0.0, req.gain().value()));
            }
        }
        // ndarray-npy's own writer of the dense array agrees too.
        if dtype == Dtype::F32 && gain == "1" {
            let mut theirs = Vec::new();
            ndarray_npy::WriteNpyExt::write_npy(&req.to_array(0f32, 1.0), &mut theirs).unwrap();
            let mut ours = Vec::new();
            write_stream(&format::npy::pieces(&req).unwrap(), &mut ours).unwrap();
            prop_assert_eq!(theirs, ours);
        }
    }
}
