//! The command line: clap types, and turning them into an [`Output`] and a [`Target`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use dirac_init::spec::{Defaults, TensorSpec, parse_spec};
use dirac_init::{Dtype, Error, Format, Gain, Layout, Output, Target, Tensor, checkpoint};

const EXAMPLES: &str = "\
Examples:
  dirac-init 64 64 3 3 --dtype f32 -o w.npy
  dirac-init 128x64x3x3 --format safetensors | python consume.py
  dirac-init 3 3 64 64 --layout hwio --groups 2 --gain 0.5 -o k.safetensors
  dirac-init --tensor conv1.weight=64x3x3x3 --tensor dw.weight=32x1x3x3:groups=32 -o m.npz
  dirac-init --like model.safetensors --select 'conv' -o init.safetensors";

/// Write Dirac-initialized (identity-of-convolution) weight tensors to .npy, .safetensors or .npz.
#[derive(Debug, Parser)]
#[command(name = "dirac-init", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The shape, as separate numbers (64 64 3 3) or one token (64x64x3x3, 64,64,3,3);
    /// oihw: O I k1..kn, hwio: k1..kn I O
    #[arg(value_name = "DIM", allow_negative_numbers = true)]
    pub dims: Vec<String>,

    /// Element type: f16 bf16 f32 f64 i8 i16 i32 i64 u8 u16 u32 u64 bool f8e4m3 f8e5m2
    /// (or float32, half, bfloat16, int8, uint8, float8_e4m3fn, ...) [default: f32]
    #[arg(short = 't', long, value_name = "DTYPE")]
    pub dtype: Option<Dtype>,

    /// Kernel layout: oihw (PyTorch) or hwio (TensorFlow, Keras, JAX) [default: oihw]
    #[arg(short = 'l', long, value_name = "LAYOUT")]
    pub layout: Option<Layout>,

    /// Groups G (must divide O) [default: 1]; NAME=G sets one tensor's groups (repeatable)
    #[arg(short = 'g', long, value_name = "G|NAME=G")]
    pub groups: Vec<String>,

    /// The value of the non-zero entries [default: 1]
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub gain: Option<Gain>,

    /// Output path; - or none for stdout. A device or FIFO is written in place
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// File format: npy, safetensors, npz [default: from the extension; npy on stdout,
    /// devices and FIFOs]
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// The tensor's name in .safetensors and .npz files
    #[arg(long, value_name = "NAME", default_value = "weight")]
    pub name: String,

    /// A .safetensors __metadata__ entry (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,

    /// A named tensor, NAME=DIMS[:groups=G][:dtype=T][:layout=L][:gain=X] (repeatable)
    #[arg(long = "tensor", value_name = "NAME=DIMS[:KEY=VALUE...]")]
    pub tensors: Vec<String>,

    /// A JSON file of tensors: {"NAME": {"shape": [...], "groups": G, "dtype": T, "layout": L, "gain": X}}
    #[arg(long, value_name = "FILE.json")]
    pub spec: Option<PathBuf>,

    /// Make Dirac tensors with the names, shapes and dtypes of a .safetensors checkpoint
    /// (its header only is read; --dtype overrides its dtypes)
    #[arg(long, value_name = "CHECKPOINT")]
    pub like: Option<PathBuf>,

    /// With --like: the tensors whose names match this regex [default: every tensor of rank >= 3]
    #[arg(long, value_name = "REGEX", requires = "like")]
    pub select: Option<String>,
}

impl Cli {
    /// Validates everything and returns what to write and where.
    pub fn into_job(self) -> Result<(Output, Target), Error> {
        let (default_groups, named_groups) = split_groups(&self.groups)?;
        let defaults = Defaults {
            dtype: self.dtype.unwrap_or(Dtype::F32),
            layout: self.layout.unwrap_or_default(),
            groups: default_groups.unwrap_or(1),
            gain: self.gain.clone().unwrap_or(Gain::ONE),
        };
        let mut specs: Vec<(String, TensorSpec)> = Vec::new();
        if !self.dims.is_empty() {
            let shape = dirac_init::parse_dims(&self.dims)?;
            specs.push((
                self.name.clone(),
                TensorSpec {
                    shape,
                    ..TensorSpec::default()
                },
            ));
        }
        for arg in &self.tensors {
            specs.push(TensorSpec::parse_arg(arg)?);
        }
        if let Some(path) = &self.spec {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Input(format!("cannot read spec '{}': {e}", path.display())))?;
            specs.extend(
                parse_spec(&text)
                    .map_err(|e| Error::Input(format!("'{}': {e}", path.display())))?,
            );
        }
        if let Some(path) = &self.like {
            specs.extend(self.like_specs(path)?);
        }
        if specs.is_empty() {
            return Err(Error::Usage(
                "no shape given (allowed: DIMS such as `64 64 3 3`, or --tensor, --spec, --like)"
                    .into(),
            ));
        }
        for (name, groups) in &named_groups {
            let spec = specs.iter_mut().find(|(n, _)| n == name).ok_or_else(|| {
                Error::Groups(format!(
                    "--groups {name}={groups}: there is no tensor named '{name}'"
                ))
            })?;
            spec.1.groups = Some(*groups);
        }
        let tensors = specs
            .iter()
            .map(|(name, spec)| spec.resolve(name, &defaults))
            .collect::<Result<Vec<Tensor>, Error>>()?;

        let target = match &self.output {
            None => Target::Stdout,
            Some(p) if p.as_os_str() == "-" => Target::Stdout,
            Some(p) => Target::Path(p.clone()),
        };
        let format = match (self.format, &target) {
            (Some(f), _) => f,
            // Streams (stdout, devices, FIFOs) have no extension to go by.
            (None, Target::Stdout) => Format::Npy,
            (None, Target::Path(p)) if std::fs::metadata(p).is_ok_and(|m| !m.is_file()) => {
                Format::Npy
            }
            (None, Target::Path(p)) => Format::from_path(p)?,
        };
        let mut metadata = BTreeMap::new();
        for kv in &self.metadata {
            let (k, v) = kv
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--metadata '{kv}' is not KEY=VALUE (allowed: e.g. --metadata format=pt)"
                    ))
                })?;
            if metadata.insert(k.to_string(), v.to_string()).is_some() {
                return Err(Error::Usage(format!(
                    "--metadata key '{k}' is given twice (allowed: each key once)"
                )));
            }
        }
        Ok((
            Output {
                format,
                tensors,
                metadata,
            },
            target,
        ))
    }

    /// The tensors of the `--like` checkpoint that `--select` picks, with its dtypes
    /// unless `--dtype` was given.
    fn like_specs(&self, path: &std::path::Path) -> Result<Vec<(String, TensorSpec)>, Error> {
        let entries = checkpoint::read_header(path)?;
        let select = match &self.select {
            Some(re) => Some(regex::Regex::new(re).map_err(|e| {
                Error::Usage(format!(
                    "--select '{re}' is not a valid regex: {}",
                    e.to_string().lines().last().unwrap_or("")
                ))
            })?),
            None => None,
        };
        let mut specs = Vec::new();
        for entry in entries {
            let chosen = match &select {
                Some(re) => re.is_match(&entry.name),
                None => entry.shape.len() >= 3,
            };
            if !chosen {
                continue;
            }
            let dtype = match self.dtype {
                Some(d) => d,
                None => Dtype::from_safetensors(entry.dtype).ok_or_else(|| {
                    Error::Unsupported(format!(
                        "tensor '{}' in '{}' has dtype {:?}, which dirac-init cannot write (allowed: {}; or give --dtype)",
                        entry.name,
                        path.display(),
                        entry.dtype,
                        Dtype::ALL.map(|d| format!("{:?}", d.safetensors())).join(", ")
                    ))
                })?,
            };
            specs.push((
                entry.name,
                TensorSpec {
                    shape: entry.shape,
                    dtype: Some(dtype),
                    ..TensorSpec::default()
                },
            ));
        }
        if specs.is_empty() {
            return Err(Error::Usage(match &self.select {
                Some(re) => format!("--select '{re}' matches no tensor in '{}'", path.display()),
                None => format!(
                    "'{}' has no tensor of rank >= 3 (allowed: pick tensors with --select REGEX)",
                    path.display()
                ),
            }));
        }
        Ok(specs)
    }
}

/// `--groups` values: the default G, and per-tensor NAME=G.
type GroupsArgs = (Option<usize>, Vec<(String, usize)>);

/// Splits `--groups` values into the default G and per-tensor NAME=G.
fn split_groups(values: &[String]) -> Result<GroupsArgs, Error> {
    let mut default = None;
    let mut named = Vec::new();
    for value in values {
        let (name, g) = match value.rsplit_once('=') {
            Some((name, g)) => (Some(name), g),
            None => (None, value.as_str()),
        };
        let g: usize = g.trim().parse().map_err(|_| {
            Error::Groups(format!("'{value}' is not a positive integer G or NAME=G"))
        })?;
        match name {
            Some(name) => named.push((name.to_string(), g)),
            None if default.is_some() => {
                return Err(Error::Groups(format!(
                    "'{value}' is a second default (allowed: one G, and NAME=G for single tensors)"
                )));
            }
            None => default = Some(g),
        }
    }
    Ok((default, named))
}
