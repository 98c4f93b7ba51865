//! Many tensors in one run: --tensor, --spec, --like, into .safetensors and .npz.

use std::borrow::Cow;
use std::path::Path;

use assert_cmd::Command;
use dirac_init::{Dtype, Layout, Request};
use safetensors::{SafeTensors, View};

fn cmd() -> Command {
    Command::cargo_bin("dirac-init").unwrap()
}

/// A tensor for safetensors' own serializer.
struct Dense {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Dense {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn dense(req: &Request) -> Dense {
    Dense {
        dtype: req.dtype().safetensors(),
        shape: req.shape().to_vec(),
        data: req.to_bytes(),
    }
}

fn run_ok(args: &[&str], dir: &Path) {
    let out = cmd().current_dir(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{args:?}");
}

fn refuses(args: &[&str], dir: &Path, code: i32, needle: &str) {
    let before: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let out = cmd().current_dir(dir).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr:?} lacks {needle:?}"
    );
    assert!(out.stdout.is_empty());
    let after: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "{args:?} left a file");
}

fn expected() -> Vec<(&'static str, Request)> {
    vec![
        (
            "conv1.weight",
            Request::builder(vec![64, 3, 3, 3]).build().unwrap(),
        ),
        (
            "dw.weight",
            Request::builder(vec![32, 1, 3, 3])
                .groups(32)
                .dtype(Dtype::F16)
                .build()
                .unwrap(),
        ),
        (
            "hw.kernel",
            Request::builder(vec![3, 3, 8, 16])
                .layout(Layout::Hwio)
                .groups(2)
                .gain("-0.5".parse().unwrap())
                .dtype(Dtype::F64)
                .build()
                .unwrap(),
        ),
        (
            "fc.weight",
            Request::builder(vec![10, 20])
                .dtype(Dtype::BF16)
                .build()
                .unwrap(),
        ),
    ]
}

const TENSOR_ARGS: &[&str] = &[
    "--tensor",
    "conv1.weight=64x3x3x3",
    "--tensor",
    "dw.weight=32x1x3x3:groups=32:dtype=f16",
    "--tensor",
    "hw.kernel=3x3x8x16:layout=hwio:groups=2:gain=-0.5:dtype=f64",
    "--tensor",
    "fc.weight=10x20:dtype=bf16",
];

#[test]
fn tensors_into_safetensors_equal_the_librarys_own_serialization() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = TENSOR_ARGS.to_vec();
    args.extend(["-o", "m.safetensors", "--metadata", "format=pt"]);
    run_ok(&args, dir.path());
    let ours = std::fs::read(dir.path().join("m.safetensors")).unwrap();
    let tensors: Vec<(String, Dense)> = expected()
        .iter()
        .map(|(n, r)| (n.to_string(), dense(r)))
        .collect();
    let metadata = Some(
        [("format".to_string(), "pt".to_string())]
            .into_iter()
            .collect(),
    );
    let theirs =
        safetensors::serialize(tensors.iter().map(|(n, d)| (n.as_str(), d)), metadata).unwrap();
    assert_eq!(ours, theirs);
    let st = SafeTensors::deserialize(&ours).unwrap();
    assert_eq!(st.len(), 4);
    for (name, req) in expected() {
        let t = st.tensor(name).unwrap();
        assert_eq!(t.shape(), req.shape());
        assert_eq!(t.data(), &req.to_bytes()[..], "{name}");
    }
}

#[test]
fn tensors_into_npz_load_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--tensor",
        "conv1.weight=64x3x3x3",
        "--tensor",
        "dw.weight=32x1x3x3:groups=32:dtype=f64",
        "--tensor",
        "ids=5x7:dtype=i64:gain=3",
        "-o",
        "m.npz",
    ];
    run_ok(&args, dir.path());
    let file = std::fs::File::open(dir.path().join("m.npz")).unwrap();
    let mut npz = ndarray_npy::NpzReader::new(file).unwrap();
    assert_eq!(npz.names().unwrap(), ["conv1.weight", "dw.weight", "ids"]);
    let a: ndarray::ArrayD<f32> = npz.by_name("conv1.weight").unwrap();
    assert_eq!(
        a,
        Request::builder(vec![64, 3, 3, 3])
            .build()
            .unwrap()
            .to_array(0.0, 1.0)
    );
    let b: ndarray::ArrayD<f64> = npz.by_name("dw.weight").unwrap();
    assert_eq!(
        b,
        Request::builder(vec![32, 1, 3, 3])
            .groups(32)
            .build()
            .unwrap()
            .to_array(0.0, 1.0)
    );
    let c: ndarray::ArrayD<i64> = npz.by_name("ids").unwrap();
    assert_eq!(
        c,
        Request::builder(vec![5, 7]).build().unwrap().to_array(0, 3)
    );
    // stdout gives the same bytes
    let piped = cmd().args(&args[..6]).args(["-f", "npz"]).output().unwrap();
    assert_eq!(
        piped.stdout,
        std::fs::read(dir.path().join("m.npz")).unwrap()
    );
}

#[test]
fn a_spec_file_takes_defaults_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spec.json"),
        r#"{"conv1.weight": {"shape": [64, 3, 3, 3]},
            "dw.weight": {"shape": [32, 1, 3, 3], "groups": 32, "dtype": "f16", "layout": "oihw", "gain": 1}}"#,
    )
    .unwrap();
    run_ok(
        &[
            "--spec",
            "spec.json",
            "--dtype",
            "f64",
            "--gain",
            "2",
            "-o",
            "m.safetensors",
        ],
        dir.path(),
    );
    let bytes = std::fs::read(dir.path().join("m.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let conv = st.tensor("conv1.weight").unwrap();
    assert_eq!(conv.dtype(), safetensors::Dtype::F64);
    let req = Request::builder(vec![64, 3, 3, 3])
        .dtype(Dtype::F64)
        .gain("2".parse().unwrap())
        .build()
        .unwrap();
    assert_eq!(conv.data(), &req.to_bytes()[..]);
    let dw = st.tensor("dw.weight").unwrap();
    assert_eq!(dw.dtype(), safetensors::Dtype::F16);
    let req = Request::builder(vec![32, 1, 3, 3])
        .groups(32)
        .dtype(Dtype::F16)
        .build()
        .unwrap();
    assert_eq!(dw.data(), &req.to_bytes()[..]);
}

/// A checkpoint with convolution, linear and bias tensors, written by safetensors itself.
fn checkpoint(dir: &Path, extra: Option<(&str, safetensors::Dtype)>) -> std::path::PathBuf {
    let mut tensors = vec![
        (
            "conv1.weight",
            Dense {
                dtype: safetensors::Dtype::F32,
                shape: vec![8, 3, 3, 3],
                data: vec![7; 8 * 27 * 4],
            },
        ),
        (
            "conv1.bias",
            Dense {
                dtype: safetensors::Dtype::F32,
                shape: vec![8],
                data: vec![7; 32],
            },
        ),
        (
            "layer1.conv.weight",
            Dense {
                dtype: safetensors::Dtype::BF16,
                shape: vec![8, 2, 3, 3],
                data: vec![7; 8 * 18 * 2],
            },
        ),
        (
            "fc.weight",
            Dense {
                dtype: safetensors::Dtype::F16,
                shape: vec![10, 8],
                data: vec![7; 160],
            },
        ),
        (
            "fc.bias",
            Dense {
                dtype: safetensors::Dtype::F16,
                shape: vec![10],
                data: vec![7; 20],
            },
        ),
    ];
    if let Some((name, dtype)) = extra {
        tensors.push((
            name,
            Dense {
                dtype,
                shape: vec![2, 2, 1],
                data: vec![7; 4 * 8],
            },
        ));
    }
    let path = dir.join("model.safetensors");
    std::fs::write(
        &path,
        safetensors::serialize(
            tensors.iter().map(|(n, d)| (*n, d)),
            // a checkpoint with __metadata__, as PyTorch writes them
            Some(
                [("format".to_string(), "pt".to_string())]
                    .into_iter()
                    .collect(),
            ),
        )
        .unwrap(),
    )
    .unwrap();
    path
}

#[test]
fn like_copies_the_kernels_of_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint(dir.path(), None);
    run_ok(
        &[
            "--like",
            "model.safetensors",
            "--groups",
            "layer1.conv.weight=4",
            "-o",
            "init.safetensors",
        ],
        dir.path(),
    );
    let bytes = std::fs::read(dir.path().join("init.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(
        names,
        ["conv1.weight", "layer1.conv.weight"],
        "rank >= 3 only"
    );
    let conv = st.tensor("conv1.weight").unwrap();
    assert_eq!(conv.dtype(), safetensors::Dtype::F32);
    assert_eq!(
        conv.data(),
        &Request::builder(vec![8, 3, 3, 3])
            .build()
            .unwrap()
            .to_bytes()[..]
    );
    let layer = st.tensor("layer1.conv.weight").unwrap();
    assert_eq!(layer.dtype(), safetensors::Dtype::BF16);
    let req = Request::builder(vec![8, 2, 3, 3])
        .groups(4)
        .dtype(Dtype::BF16)
        .build()
        .unwrap();
    assert_eq!(layer.data(), &req.to_bytes()[..]);

    run_ok(
        &[
            "--like",
            "model.safetensors",
            "--select",
            r"^fc\.weight$",
            "--dtype",
            "f32",
            "-o",
            "fc.npy",
        ],
        dir.path(),
    );
    let fc: ndarray::ArrayD<f32> = ndarray_npy::read_npy(dir.path().join("fc.npy")).unwrap();
    assert_eq!(
        fc,
        Request::builder(vec![10, 8])
            .build()
            .unwrap()
            .to_array(0.0, 1.0)
    );
}

#[test]
fn like_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    checkpoint(d, None);
    refuses(
        &[
            "--like",
            "model.safetensors",
            "--select",
            "nothing",
            "-o",
            "x.safetensors",
        ],
        d,
        2,
        "'nothing'",
    );
    refuses(
        &[
            "--like",
            "model.safetensors",
            "--select",
            "(",
            "-o",
            "x.safetensors",
        ],
        d,
        2,
        "'('",
    );
    refuses(
        &[
            "--like",
            "model.safetensors",
            "--select",
            "bias",
            "-o",
            "x.safetensors",
        ],
        d,
        2,
        "conv1.bias",
    );
    refuses(
        &["--like", "model.safetensors", "-o", "x.npy"],
        d,
        2,
        ".npy holds one tensor",
    );
    refuses(
        &[
            "--like",
            "model.safetensors",
            "--groups",
            "nope=2",
            "-o",
            "x.safetensors",
        ],
        d,
        2,
        "'nope'",
    );
    refuses(
        &[
            "--like",
            "model.safetensors",
            "--groups",
            "conv1.weight=3",
            "-o",
            "x.safetensors",
        ],
        d,
        2,
        "conv1.weight",
    );
    refuses(
        &["--like", "missing.safetensors", "-o", "x.safetensors"],
        d,
        2,
        "missing.safetensors",
    );
    refuses(&["--select", "x", "4", "4"], d, 2, "--like");
    checkpoint(d, Some(("odd.weight", safetensors::Dtype::C64)));
    refuses(
        &["--like", "model.safetensors", "-o", "x.safetensors"],
        d,
        2,
        "odd.weight",
    );

    /// A file with this JSON header and `data` bytes after it.
    fn with_header(json: &str, data: usize) -> Vec<u8> {
        [
            (json.len() as u64).to_le_bytes().to_vec(),
            json.as_bytes().to_vec(),
            vec![0; data],
        ]
        .concat()
    }
    let tensor = |shape: String, end: u64| {
        format!(r#"{{"t":{{"dtype":"F32","shape":{shape},"data_offsets":[0,{end}]}}}}"#)
    };
    for (bytes, needle) in [
        (
            b"not a checkpoint at all".to_vec(),
            "not a valid .safetensors",
        ),
        (vec![1, 2, 3], "not a valid .safetensors"),
        (
            [u64::MAX.to_le_bytes().to_vec(), b"{}".to_vec()].concat(),
            "header length",
        ),
        (with_header("{}", 10), "10"),
        // data missing, or shape and offsets disagree
        (
            with_header(&tensor("[4]".into(), 16), 0),
            "describes 16 bytes of data but the file holds 0",
        ),
        (
            with_header(&tensor("[4]".into(), 8), 8),
            "header is not valid",
        ),
        // a shape whose product overflows
        (
            with_header(&tensor(format!("[{},3]", usize::MAX), 16), 16),
            "not valid",
        ),
        // absurd but consistent sizes: 2^58 bytes of data claimed by a small file
        (
            with_header(
                &tensor(format!("[{},{}]", 1u64 << 28, 1u64 << 28), 1 << 58),
                16,
            ),
            "describes 288230376151711744 bytes",
        ),
    ] {
        std::fs::write(d.join("bad.safetensors"), &bytes).unwrap();
        refuses(
            &["--like", "bad.safetensors", "-o", "x.safetensors"],
            d,
            2,
            needle,
        );
    }
}

#[test]
fn bad_multi_tensor_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    refuses(
        &[
            "--tensor",
            "a=2x2",
            "--tensor",
            "a=3x3",
            "-o",
            "m.safetensors",
        ],
        d,
        2,
        "'a'",
    );
    refuses(
        &["--tensor", "a=2x2", "--tensor", "a=3x3", "-o", "m.npz"],
        d,
        2,
        "'a'",
    );
    refuses(
        &["4", "4", "--tensor", "weight=3x3", "-o", "m.safetensors"],
        d,
        2,
        "'weight'",
    );
    refuses(
        &["--tensor", "a=2x2", "--tensor", "b=3x3", "-o", "m.npy"],
        d,
        2,
        ".npy holds one tensor",
    );
    refuses(
        &["--tensor", "a=2x2", "--tensor", "b=3x3"],
        d,
        2,
        "--format",
    );
    refuses(
        &["--tensor", "a=2x2:dtype=bf16", "-o", "m.npz"],
        d,
        2,
        "bf16",
    );
    refuses(
        &["--tensor", "a=2x2:colour=red", "-o", "m.npz"],
        d,
        2,
        "'colour'",
    );
    refuses(&["--tensor", "a", "-o", "m.npz"], d, 2, "'a'");
    refuses(
        &["--tensor", "a=6x4:groups=4", "-o", "m.npz"],
        d,
        2,
        "tensor 'a'",
    );
    for (json, needle) in [
        ("{", "spec.json"),
        ("[1, 2]", "spec.json"),
        (r#"{"a": {"shape": [2, 2]}, "a": {"shape": [3, 3]}}"#, "'a'"),
        (r#"{"a": {"shape": [2, 2], "colour": "red"}}"#, "colour"),
        (r#"{"a": {"shape": "2x2"}}"#, "spec.json"),
        (r#"{"a": {"shape": [2, 2], "groups": "2"}}"#, "spec.json"),
        (r#"{"a": {"shape": [2, 2], "dtype": "f7"}}"#, "'f7'"),
        (r#"{"a": {"shape": [2, 2], "layout": "nchw"}}"#, "'nchw'"),
        (r#"{"a": {"shape": [2, 2], "gain": 1e400}}"#, "spec.json"),
        (r#"{"a": {"shape": [6, 4], "groups": 4}}"#, "tensor 'a'"),
    ] {
        std::fs::write(d.join("spec.json"), json).unwrap();
        refuses(
            &["--spec", "spec.json", "-o", "m.safetensors"],
            d,
            2,
            needle,
        );
        std::fs::remove_file(d.join("spec.json")).unwrap();
    }
    refuses(
        &["--spec", "nope.json", "-o", "m.safetensors"],
        d,
        2,
        "nope.json",
    );
}
