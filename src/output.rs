//! Putting it together: a set of tensors in a format, written whole to a file or a stream.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

use crate::error::{Error, io};
use crate::format::{Format, Tensor, npy, npz, safetensors};
use crate::sink::{AtomicFile, Piece, SparseWriter, write_sparse_at, write_stream};

/// Where the output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Standard output (`-o -` or no `-o`); never a terminal.
    Stdout,
    /// A path: replaced atomically if it is a regular file or new, written in place if it is a
    /// device or a pipe (`/dev/null`, a FIFO).
    Path(PathBuf),
}

/// What to write: tensors in a format, with safetensors metadata.
///
/// ```
/// use dirac_init::{Format, Output, Request, Target, Tensor};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("w.npy");
/// let tensors = vec![Tensor::new("weight", Request::builder(vec![8, 8, 3, 3]).build().unwrap())];
/// let output = Output { format: Format::Npy, tensors, metadata: Default::default() };
/// output.write(&Target::Path(path.clone())).unwrap();
/// let a: ndarray::ArrayD<f32> = ndarray_npy::read_npy(&path).unwrap();
/// assert_eq!(a.sum(), 8.0);
/// ```
#[derive(Clone, Debug)]
pub struct Output {
    /// The file format.
    pub format: Format,
    /// The tensors, in the order given (the order of `.npz` members).
    pub tensors: Vec<Tensor>,
    /// The safetensors `__metadata__`; must be empty for other formats.
    pub metadata: BTreeMap<String, String>,
}

/// How the bytes are laid out: as pieces (npy, safetensors) or through the zip writer (npz).
enum Plan<'a> {
    Pieces(Vec<Piece<'a>>),
    /// The members' `.npy` headers.
    Npz(Vec<Vec<u8>>),
}

impl Output {
    /// Checks the tensors against the format and lays out the file, before anything is written.
    fn plan(&self) -> Result<Plan<'_>, Error> {
        if self.tensors.is_empty() {
            return Err(Error::Usage("no tensors to write".into()));
        }
        if !self.metadata.is_empty() && self.format != Format::Safetensors {
            return Err(Error::Usage(format!(
                "--metadata applies to .safetensors only, not .{} (allowed: drop --metadata or use --format safetensors)",
                self.format
            )));
        }
        Ok(match self.format {
            Format::Npy => match &self.tensors[..] {
                [t] => Plan::Pieces(npy::pieces(&t.request)?),
                many => {
                    return Err(Error::Usage(format!(
                        ".npy holds one tensor, not {} (allowed: --format safetensors or npz for many)",
                        many.len()
                    )));
                }
            },
            Format::Safetensors => {
                Plan::Pieces(safetensors::pieces(&self.tensors, &self.metadata)?)
            }
            Format::Npz => Plan::Npz(npz::headers(&self.tensors)?),
        })
    }

    /// Writes the stream form to `out`: the bytes every target gets.
    ///
    /// ```
    /// use dirac_init::{Format, Output, Request, Tensor};
    /// let tensors = vec![Tensor::new("w", Request::builder(vec![2, 2]).build().unwrap())];
    /// let output = Output { format: Format::Safetensors, tensors, metadata: Default::default() };
    /// let mut bytes = Vec::new();
    /// output.write_to(&mut bytes).unwrap();
    /// assert_eq!(bytes.len() as u64, 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) + 16);
    /// ```
    pub fn write_to<W: Write>(&self, out: W) -> Result<(), Error> {
        let plan = self.plan()?;
        self.stream(&plan, out, "writing output")
    }

    fn stream<W: Write>(&self, plan: &Plan, mut out: W, what: &str) -> Result<(), Error> {
        match plan {
            Plan::Pieces(pieces) => write_stream(pieces, &mut out).map_err(io(what)),
            Plan::Npz(headers) => npz::write(&self.tensors, headers, out).map_err(io(what)),
        }
    }

    /// Writes into the regular `file` from byte `base` on, which must be its end, with
    /// positioned writes that skip zeros; returns where the output ends.
    fn write_into(&self, plan: &Plan, file: &File, base: u64, what: &str) -> Result<u64, Error> {
        match plan {
            Plan::Pieces(pieces) => {
                write_sparse_at(pieces, file, base).map_err(io(what))?;
                Ok(base + pieces.iter().map(Piece::len).sum::<u64>())
            }
            Plan::Npz(_) => {
                let mut sparse = SparseWriter::at(file, base);
                self.stream(plan, &mut sparse, what)?;
                sparse.finish().map_err(io(what))
            }
        }
    }

    /// Writes to `target`. Nothing is written unless every tensor is valid for the format;
    /// a file appears whole or not at all.
    pub fn write(&self, target: &Target) -> Result<(), Error> {
        let plan = self.plan()?;
        match target {
            Target::Stdout => {
                let stdout = io::stdout();
                if stdout.is_terminal() {
                    return Err(refuse_terminal());
                }
                // Raw writes to the descriptor, past the line-buffered `Stdout`.
                let mut file = stdout
                    .as_fd()
                    .try_clone_to_owned()
                    .map(File::from)
                    .map_err(io("stdout"))?;
                let what = "writing to stdout";
                // `> w.npy`: a regular file gets sparse positioned writes too, and its offset
                // ends up after them, as if streamed.
                let Some(base) = sparse_end(&file) else {
                    return self.stream(&plan, file, what);
                };
                let end = self.write_into(&plan, &file, base, what)?;
                file.seek(SeekFrom::Start(end)).map(drop).map_err(io(what))
            }
            Target::Path(path) => {
                let shown = path.display();
                let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file());
                if special {
                    let file = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(io(format!("cannot write '{shown}'")))?;
                    if file.is_terminal() {
                        return Err(refuse_terminal());
                    }
                    return self.stream(&plan, file, &format!("writing '{shown}'"));
                }
                let mut atomic =
                    AtomicFile::create(path).map_err(io(format!("cannot write '{shown}'")))?;
                let what = format!("writing '{shown}'");
                self.write_into(&plan, atomic.file(), 0, &what)?;
                atomic.commit().map_err(io(what))
            }
        }
    }
}

fn refuse_terminal() -> Error {
    Error::Usage(
        "refusing to write binary data to a terminal (allowed: -o FILE, or redirect or pipe stdout)"
            .into(),
    )
}

/// Where stdout may be written with positioned writes: a regular file whose offset is at its
/// end (`>` or `{ ...; } >`), not opened for appending (Linux's pwrite appends there whatever
/// the offset). `None` for pipes, devices, append mode, or when that cannot be told.
fn sparse_end(stdout: &File) -> Option<u64> {
    let meta = stdout.metadata().ok()?;
    let pos = (&*stdout).stream_position().ok()?;
    if !meta.is_file() || pos != meta.len() {
        return None;
    }
    const O_APPEND: u32 = 0o2000;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", stdout.as_raw_fd())).ok()?;
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?.trim();
    let flags = u32::from_str_radix(flags, 8).ok()?;
    (flags & O_APPEND == 0).then_some(pos)
}
