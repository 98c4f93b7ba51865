"""dirac-init's files, loaded by the real consumers: numpy, safetensors (with ml-dtypes for
bf16 and fp8) and mygrad, compared with mygrad's own Dirac initializer.

Run with tests/interop/run.sh (it sets DIRAC_INIT to the release binary).
"""

import os
import subprocess
import sys

import ml_dtypes
import mygrad
import numpy as np
import pytest
import safetensors
import safetensors.numpy

BIN = os.environ.get("DIRAC_INIT") or pytest.fail("DIRAC_INIT must name the dirac-init binary")

DTYPES = {
    "f16": np.float16, "bf16": ml_dtypes.bfloat16, "f32": np.float32, "f64": np.float64,
    "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
    "u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64, "bool": np.bool_,
    "f8e4m3": ml_dtypes.float8_e4m3fn, "f8e5m2": ml_dtypes.float8_e5m2,
}
NO_NUMPY = {"bf16", "f8e4m3", "f8e5m2"}

# (O, I, k...) per rank: O < I, O > I, 1-sized, even kernels.
SHAPES = [
    (3, 5), (5, 3), (1, 1), (4, 4),
    (4, 6, 3), (6, 4, 2), (1, 1, 1), (8, 3, 5),
    (4, 6, 3, 3), (8, 4, 3, 2), (1, 1, 1, 1), (12, 4, 2, 4), (6, 2, 1, 3),
    (4, 6, 3, 3, 3), (6, 2, 1, 3, 2), (2, 2, 1, 1, 1),
    (2, 3, 3, 1, 3, 2), (4, 2, 1, 2, 1, 3),
]


def reference(shape, groups, layout, dtype):
    """mygrad's dirac for groups 1; per group, mygrad's dirac of (O/G, I, k...) stacked along O;
    hwio: transposed to (k..., I, O)."""
    o, i, *k = shape
    per_group = o // groups
    ref = np.concatenate(
        [mygrad.nnet.initializers.dirac(per_group, i, *k, dtype=np.float64).data for _ in range(groups)]
    )
    if layout == "hwio":
        ref = ref.transpose(tuple(range(2, len(shape))) + (1, 0))
    return np.ascontiguousarray(ref).astype(DTYPES[dtype])


def cli_shape(shape, layout):
    o, i, *k = shape
    return list(shape) if layout == "oihw" else [*k, i, o]


def run(shape, groups, layout, dtype, fmt, path):
    dims = "x".join(map(str, cli_shape(shape, layout)))
    cmd = [BIN, dims, "--groups", str(groups), "--layout", layout, "--dtype", dtype, "-f", fmt, "-o", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", (cmd, done.stderr)


def load_safetensors(path, dtype):
    if dtype in ("f8e4m3", "f8e5m2"):
        # safetensors.numpy looks fp8 up as np.float8_*, which numpy lacks; read the tensor with
        # safetensors' own parser and view its bytes through ml-dtypes.
        ((name, view),) = safetensors.deserialize(path.read_bytes())
        assert name == "weight"
        return np.frombuffer(bytes(view["data"]), dtype=DTYPES[dtype]).reshape(view["shape"])
    (name, array), = safetensors.numpy.load_file(str(path)).items()
    assert name == "weight"
    return array


CASES = [
    pytest.param(shape, g, layout, dtype, fmt, id=f"{'x'.join(map(str, shape))}-g{g}-{layout}-{dtype}-{fmt}")
    for shape in SHAPES
    for g in range(1, 5)
    if shape[0] % g == 0
    for layout in ("oihw", "hwio")
    for dtype in DTYPES
    for fmt in ("npy", "safetensors")
    if not (fmt == "npy" and dtype in NO_NUMPY)
]


@pytest.mark.parametrize("shape,groups,layout,dtype,fmt", CASES)
def test_loads_as_the_reference(tmp_path, shape, groups, layout, dtype, fmt):
    path = tmp_path / f"w.{fmt}"
    run(shape, groups, layout, dtype, fmt, path)
    ref = reference(shape, groups, layout, dtype)
    got = np.load(path) if fmt == "npy" else load_safetensors(path, dtype)
    assert got.dtype == ref.dtype
    assert got.shape == ref.shape
    assert got.tobytes() == ref.tobytes()
    if fmt == "safetensors":
        saved = tmp_path / "ref.safetensors"
        safetensors.numpy.save_file({"weight": ref}, str(saved))
        assert path.read_bytes() == saved.read_bytes()


CONV_CASES = [
    pytest.param(shape, g, layout, id=f"{'x'.join(map(str, shape))}-g{g}-{layout}")
    for shape in SHAPES
    if len(shape) > 2 and all(k % 2 == 1 for k in shape[2:])
    for g in range(1, 5)
    if shape[0] % g == 0
    for layout in ("oihw", "hwio")
]


@pytest.mark.parametrize("shape,groups,layout", CONV_CASES)
def test_convolution_preserves_the_input(tmp_path, shape, groups, layout):
    path = tmp_path / "w.npy"
    run(shape, groups, layout, "f64", "npy", path)
    w = np.load(path)
    if layout == "hwio":
        w = w.transpose((w.ndim - 1, w.ndim - 2) + tuple(range(w.ndim - 2)))
    o, i, *k = shape
    per_group = o // groups
    rng = np.random.default_rng(sum(shape) * 31 + groups)
    x = rng.standard_normal((2, groups * i, *[n + 3 for n in k]))
    for g in range(groups):
        xs = x[:, g * i:(g + 1) * i]
        y = mygrad.nnet.layers.conv_nd(
            xs, w[g * per_group:(g + 1) * per_group], stride=1, padding=tuple(n // 2 for n in k), constant=True
        ).data
        keep = min(per_group, i)
        np.testing.assert_array_equal(y[:, :keep], xs[:, :keep], err_msg=f"group {g}")
        assert not y[:, keep:].any()


def test_two_dims_is_a_matrix_identity(tmp_path):
    path = tmp_path / "w.npy"
    run((5, 3), 1, "oihw", "f64", "npy", path)
    x = np.random.default_rng(0).standard_normal(3)
    np.testing.assert_array_equal((np.load(path) @ x)[:3], x)


def pipe(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, executable="/bin/bash")


def test_npy_through_a_pipe():
    # numpy.load seeks back after reading the magic, so it cannot read any pipe directly (not
    # even numpy.save's own output): the stream is read into memory first.
    done = pipe(f'"{BIN}" 32 16 3 3 | "{sys.executable}" -c "import io, sys, numpy; a = numpy.load(io.BytesIO(sys.stdin.buffer.read())); print(a.dtype, a.shape, int(a.sum()))"')
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["float32", "(32,", "16,", "3,", "3)", "16"]


def test_safetensors_through_a_pipe():
    done = pipe(f'"{BIN}" 32 16 3 3 --format safetensors | "{sys.executable}" -c "import sys, safetensors.numpy as s; a = s.load(sys.stdin.buffer.read())[\'weight\']; print(a.dtype, a.shape, int(a.sum()))"')
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["float32", "(32,", "16,", "3,", "3)", "16"]


def test_npz_through_a_pipe():
    done = pipe(f'"{BIN}" --tensor a=4x4x3x3 --tensor b=8x2x3:groups=4:dtype=i8 --format npz | "{sys.executable}" -c "import io, sys, numpy; z = numpy.load(io.BytesIO(sys.stdin.buffer.read())); print(sorted(z.files), z[\'b\'].dtype, int(z[\'a\'].sum()))"')
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['a',", "'b']", "int8", "4"]


# Many tensors in one file.
MULTI = {
    # name: (cli spec, reference)
    "conv1.weight": ("conv1.weight=8x3x3x3", lambda: reference((8, 3, 3, 3), 1, "oihw", "f32")),
    "dw.weight": ("dw.weight=8x1x3x3:groups=8:dtype=f16", lambda: reference((8, 1, 3, 3), 8, "oihw", "f16")),
    "kernel": ("kernel=3x3x4x6:layout=hwio:groups=2:dtype=f64", lambda: reference((6, 4, 3, 3), 2, "hwio", "f64")),
    "fc.weight": ("fc.weight=5x7:dtype=i32", lambda: reference((5, 7), 1, "oihw", "i32")),
}


def multi_run(tmp_path, fmt, extra=()):
    path = tmp_path / f"m.{fmt}"
    cmd = [BIN, *[a for spec, _ in MULTI.values() for a in ("--tensor", spec)], *extra, "-o", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", (cmd, done.stderr)
    return path


def test_multi_tensor_safetensors(tmp_path):
    path = multi_run(tmp_path, "safetensors", ("--metadata", "format=np"))
    refs = {name: ref() for name, (_, ref) in MULTI.items()}
    loaded = safetensors.numpy.load_file(str(path))
    assert loaded.keys() == refs.keys()
    with safetensors.safe_open(str(path), framework="numpy") as f:
        assert f.metadata() == {"format": "np"}
        for name, ref in refs.items():
            for got in (loaded[name], f.get_tensor(name)):
                assert got.dtype == ref.dtype and got.shape == ref.shape, name
                assert got.tobytes() == ref.tobytes(), name
    saved = tmp_path / "ref.safetensors"
    safetensors.numpy.save_file(refs, str(saved), metadata={"format": "np"})
    assert path.read_bytes() == saved.read_bytes()


def test_multi_tensor_npz(tmp_path):
    path = multi_run(tmp_path, "npz")
    with np.load(path) as z:
        assert z.files == list(MULTI)
        for name, (_, ref) in MULTI.items():
            want = ref()
            assert z[name].dtype == want.dtype and z[name].shape == want.shape, name
            assert z[name].tobytes() == want.tobytes(), name


def test_like_a_checkpoint_saved_by_safetensors(tmp_path):
    ckpt = tmp_path / "model.safetensors"
    rng = np.random.default_rng(1)
    safetensors.numpy.save_file({
        "conv1.weight": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
        "conv1.bias": np.zeros(8, np.float32),
        "block.conv.weight": rng.standard_normal((8, 4, 3, 3)).astype(np.float16),
        "fc.weight": rng.standard_normal((10, 8)).astype(np.float32),
    }, str(ckpt))
    out = tmp_path / "init.npz"
    done = subprocess.run([BIN, "--like", str(ckpt), "--groups", "block.conv.weight=2", "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with np.load(out) as z:
        assert sorted(z.files) == ["block.conv.weight", "conv1.weight"]
        np.testing.assert_array_equal(z["conv1.weight"], reference((8, 3, 3, 3), 1, "oihw", "f32"))
        assert z["block.conv.weight"].dtype == np.float16
        np.testing.assert_array_equal(z["block.conv.weight"], reference((8, 4, 3, 3), 2, "oihw", "f16"))


def test_spec_file(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text('{"conv1.weight": {"shape": [8, 3, 3, 3]}, "dw.weight": {"shape": [8, 1, 3, 3], "groups": 8, "dtype": "f16"}}')
    out = tmp_path / "m.safetensors"
    done = subprocess.run([BIN, "--spec", str(spec), "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = safetensors.numpy.load_file(str(out))
    np.testing.assert_array_equal(loaded["conv1.weight"], reference((8, 3, 3, 3), 1, "oihw", "f32"))
    np.testing.assert_array_equal(loaded["dw.weight"], reference((8, 1, 3, 3), 8, "oihw", "f16"))
