//! Where bytes go: a sparse file written with positioned writes, or a stream.
//!
//! A file's content is a list of [`Piece`]s laid end to end: fixed bytes (headers) and tensor
//! data, which is zero except at [`Request::offsets`]. Neither sink ever holds a whole tensor.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::request::Request;

/// One part of a file's content.
#[derive(Clone, Debug)]
pub enum Piece<'a> {
    /// Bytes written as they are (a header, padding).
    Bytes(Vec<u8>),
    /// A tensor's data: [`Request::byte_len`] bytes, zero but for the non-zeros.
    Data(&'a Request),
}

impl Piece<'_> {
    /// The number of bytes this piece takes.
    ///
    /// ```
    /// use dirac_init::{Piece, Request};
    /// let req = Request::builder(vec![4, 4]).build().unwrap();
    /// assert_eq!(Piece::Data(&req).len(), 64);
    /// assert_eq!(Piece::Bytes(vec![1, 2]).len(), 2);
    /// ```
    pub fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::Data(r) => r.byte_len(),
        }
    }

    /// True for an empty `Bytes` piece.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The chunk size for streams. Measured into `cat > /dev/null` (bench/compare.sh case 4):
/// 8 KiB beats both smaller chunks (more calls) and larger ones (which fill the 64 KiB pipe
/// and stall both ends; 64 KiB to 1 MiB chunks were 5 to 10 times slower).
const CHUNK: usize = 8 * 1024;

/// Writes one tensor's data to `out` as a stream, from a small reused zero buffer.
///
/// ```
/// use dirac_init::{Dtype, Request, stream_data};
/// let req = Request::builder(vec![3, 3]).dtype(Dtype::U8).build().unwrap();
/// let mut out = Vec::new();
/// stream_data(&req, &mut out).unwrap();
/// assert_eq!(out, req.to_bytes());
/// ```
pub fn stream_data<W: Write + ?Sized>(req: &Request, out: &mut W) -> io::Result<()> {
    let element = req.element();
    let element = element.as_bytes();
    let size = element.len() as u64;
    let total = req.byte_len();
    // A multiple of every element size, so no element straddles two chunks.
    let mut buf = vec![0u8; (total.min(CHUNK as u64)) as usize];
    let mut offsets = req.offsets().map(|o| o * size).peekable();
    let mut start = 0u64;
    while start < total {
        let len = (total - start).min(buf.len() as u64) as usize;
        let mut placed = Vec::new();
        while let Some(&at) = offsets.peek().filter(|&&at| at < start + len as u64) {
            let i = (at - start) as usize;
            buf[i..i + element.len()].copy_from_slice(element);
            placed.push(i);
            offsets.next();
        }
        out.write_all(&buf[..len])?;
        for i in placed {
            buf[i..i + element.len()].fill(0);
        }
        start += len as u64;
    }
    Ok(())
}

/// Writes `pieces` to `out` one after another as a stream; memory stays constant.
///
/// ```
/// use dirac_init::{Piece, Request, write_stream};
/// let req = Request::builder(vec![2, 2]).build().unwrap();
/// let mut out = Vec::new();
/// write_stream(&[Piece::Bytes(b"hdr".to_vec()), Piece::Data(&req)], &mut out).unwrap();
/// assert_eq!(out.len(), 3 + 16);
/// ```
pub fn write_stream<W: Write + ?Sized>(pieces: &[Piece], out: &mut W) -> io::Result<()> {
    for piece in pieces {
        match piece {
            Piece::Bytes(b) => out.write_all(b)?,
            Piece::Data(req) => stream_data(req, out)?,
        }
    }
    out.flush()
}

/// The largest gap of zeros written out to join two non-zeros into one write.
const JOIN_GAP: u64 = 512;
/// The most bytes one joined write holds, so memory stays constant when every element is a
/// non-zero (shape N x 1 x 1 with N groups).
const MAX_RUN: usize = 64 * 1024;

/// Writes `pieces` into `file` with positioned writes: the file is extended to its full length
/// (sparse where the filesystem allows), and only headers and non-zero elements are written.
///
/// ```
/// use dirac_init::{Piece, Request, write_sparse};
/// let req = Request::builder(vec![64, 64, 3, 3]).build().unwrap();
/// let file = tempfile::tempfile().unwrap();
/// write_sparse(&[Piece::Data(&req)], &file).unwrap();
/// assert_eq!(file.metadata().unwrap().len(), req.byte_len());
/// ```
pub fn write_sparse(pieces: &[Piece], file: &File) -> io::Result<()> {
    write_sparse_at(pieces, file, 0)
}

/// [`write_sparse`] from byte `base` on: the file is extended to `base` plus the pieces'
/// length, and bytes before `base` are left as they are.
///
/// ```
/// use dirac_init::{Piece, write_sparse_at};
/// use std::os::unix::fs::FileExt;
/// let file = tempfile::tempfile().unwrap();
/// file.write_all_at(b"keep", 0).unwrap();
/// write_sparse_at(&[Piece::Bytes(b"more".to_vec())], &file, 4).unwrap();
/// let mut all = [0; 8];
/// file.read_exact_at(&mut all, 0).unwrap();
/// assert_eq!(&all, b"keepmore");
/// ```
pub fn write_sparse_at(pieces: &[Piece], file: &File, base: u64) -> io::Result<()> {
    let total: u64 = pieces.iter().map(Piece::len).sum();
    file.set_len(base + total)?;
    let mut at = base;
    let mut run = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Bytes(b) => file.write_all_at(b, at)?,
            Piece::Data(req) => {
                let element = req.element();
                let element = element.as_bytes();
                let size = element.len() as u64;
                // Neighbouring non-zeros closer than JOIN_GAP go out in one write.
                let mut run_start = 0u64;
                for offset in req.offsets() {
                    let pos = at + offset * size;
                    let run_end = run_start + run.len() as u64;
                    if !run.is_empty() && (pos - run_end > JOIN_GAP || run.len() >= MAX_RUN) {
                        file.write_all_at(&run, run_start)?;
                        run.clear();
                    }
                    if run.is_empty() {
                        run_start = pos;
                    } else {
                        run.resize((pos - run_start) as usize, 0);
                    }
                    run.extend_from_slice(element);
                }
                if !run.is_empty() {
                    file.write_all_at(&run, run_start)?;
                    run.clear();
                }
            }
        }
        at += piece.len();
    }
    Ok(())
}

/// A sequential writer into a new file that skips zeros: only the span from the first to the
/// last non-zero byte of each write reaches the file, and [`SparseWriter::finish`] extends it
/// to its full length. Holes read back as zeros, so the content is the same as if every byte
/// had been written; this is how streamed formats (.npz) still give sparse files.
///
/// ```
/// use dirac_init::SparseWriter;
/// use std::io::Write;
/// let file = tempfile::tempfile().unwrap();
/// let mut w = SparseWriter::new(&file);
/// w.write_all(&[0; 10_000]).unwrap();
/// w.write_all(&[0, 7, 0]).unwrap();
/// w.finish().unwrap();
/// assert_eq!(file.metadata().unwrap().len(), 10_003);
/// ```
#[derive(Debug)]
pub struct SparseWriter<'a> {
    file: &'a File,
    pos: u64,
}

impl<'a> SparseWriter<'a> {
    /// Starts at the beginning of `file`, which must be new (empty).
    pub fn new(file: &'a File) -> Self {
        SparseWriter::at(file, 0)
    }

    /// Starts at byte `pos` of `file`, which must end there.
    pub fn at(file: &'a File, pos: u64) -> Self {
        SparseWriter { file, pos }
    }

    /// Sets the file's length to all that was written, trailing zeros included, and returns
    /// that length.
    pub fn finish(self) -> io::Result<u64> {
        self.file.set_len(self.pos)?;
        Ok(self.pos)
    }
}

impl Write for SparseWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let (Some(first), Some(last)) = (
            buf.iter().position(|&b| b != 0),
            buf.iter().rposition(|&b| b != 0),
        ) {
            self.file
                .write_all_at(&buf[first..=last], self.pos + first as u64)?;
        }
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Temporary files not yet renamed into place, for [`remove_pending`].
static PENDING: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Removes every temporary file of an [`AtomicFile`] not yet committed. For a signal handler
/// that exits the process (destructors do not run then).
///
/// ```
/// dirac_init::remove_pending(); // nothing pending: does nothing
/// ```
pub fn remove_pending() {
    let pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    for path in pending.iter() {
        let _ = std::fs::remove_file(path);
    }
}

fn forget_pending(path: &Path) {
    PENDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|p| p != path);
}

/// Where a chain of symbolic links ends, even when its last target does not exist yet.
fn follow_links(path: &Path) -> PathBuf {
    let mut path = path.to_path_buf();
    // As many hops as the kernel follows (ELOOP beyond).
    for _ in 0..40 {
        match std::fs::read_link(&path) {
            Ok(target) => {
                path = match path.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                }
            }
            Err(_) => break,
        }
    }
    path
}

/// A file that appears whole at its path or not at all.
///
/// Content goes to a hidden temporary file in the same directory, renamed into place by
/// [`AtomicFile::commit`]; dropped uncommitted, the temporary file is removed and a file
/// already at the path is left untouched. A symbolic link is followed: its target is replaced.
///
/// ```
/// use dirac_init::AtomicFile;
/// use std::io::Write;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("w.bin");
/// let mut file = AtomicFile::create(&path).unwrap();
/// file.file().write_all(b"data").unwrap();
/// assert!(!path.exists());
/// file.commit().unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"data");
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    /// Always `Some` until `commit` takes it.
    temp: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file beside `path`, with the permissions of the file it replaces,
    /// or those a new file would get.
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        use std::os::unix::fs::PermissionsExt;
        let path = follow_links(path);
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let existing = std::fs::metadata(&path).ok().map(|m| m.permissions());
        let temp = tempfile::Builder::new()
            .prefix(".dirac-init-")
            .suffix(".tmp")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)
            // tempfile names its random path in the message; the OS error alone is clearer.
            .map_err(|e| e.raw_os_error().map_or(e, io::Error::from_raw_os_error))?;
        if let Some(permissions) = existing {
            temp.as_file().set_permissions(permissions)?;
        }
        PENDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(temp.path().to_path_buf());
        Ok(AtomicFile {
            temp: Some(temp),
            path,
        })
    }

    /// The temporary file, to write into.
    pub fn file(&mut self) -> &mut File {
        self.temp.as_mut().expect("not yet committed").as_file_mut()
    }

    /// Renames the temporary file into place.
    pub fn commit(mut self) -> io::Result<()> {
        let temp = self.temp.take().expect("not yet committed");
        let temp_path = temp.path().to_path_buf();
        // Forgotten only once renamed: a signal in between must still find it.
        let result = temp.persist(&self.path).map(drop).map_err(|e| e.error);
        forget_pending(&temp_path);
        result
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Uncommitted, NamedTempFile's own drop removes the file.
        if let Some(temp) = &self.temp {
            forget_pending(temp.path());
        }
    }
}
