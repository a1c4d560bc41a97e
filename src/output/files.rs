//! Flow files on disk: created without following symbolic links and without
//! overwriting anything, with at most a set number open at once (least
//! recently used closed first and reopened for appending when needed).
//!
//! Writes go straight to the file: the caller hands over large runs (the
//! flow table collects each direction's bytes), so no buffer is kept per
//! open file and keeping many files open costs descriptors, not memory.

use crate::capture::Timestamp;
use crate::error::Error;
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Identifies one file of a [`FileSink`].
pub type FileId = u64;

/// The default for `-f`: raise the soft file-descriptor limit to the hard
/// one, keep 64 descriptors for everything else, and use at most 4096.
pub fn default_max_open() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 64;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur
    };
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    soft.saturating_sub(64).clamp(1, 4096)
}

struct OpenFile {
    file: File,
    last_use: u64,
}

/// Writes flow files inside one output folder.
pub struct FileSink {
    dir: PathBuf,
    max_open: usize,
    open: HashMap<FileId, OpenFile, foldhash::fast::RandomState>,
    by_use: BTreeMap<u64, FileId>,
    paths: HashMap<FileId, PathBuf, foldhash::fast::RandomState>,
    /// Files released with their final modification time already set and
    /// not written since.
    stamped: std::collections::HashSet<FileId, foldhash::fast::RandomState>,
    clock: u64,
    next_id: FileId,
}

impl FileSink {
    /// A sink writing into `dir`, which is created with its parents.
    pub fn new(dir: &Path, max_open: usize) -> Result<FileSink, Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(FileSink {
            dir: dir.to_path_buf(),
            max_open: max_open.max(1),
            open: HashMap::default(),
            by_use: BTreeMap::new(),
            paths: HashMap::default(),
            stamped: std::collections::HashSet::default(),
            clock: 0,
            next_id: 0,
        })
    }

    /// The output folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Create a new file named by `name_for(counter)` for the first counter
    /// from `first_counter` whose name is free. Returns its id and the name
    /// taken (relative to the output folder).
    pub fn create(
        &mut self,
        first_counter: u32,
        name_for: &dyn Fn(u32) -> String,
    ) -> Result<(FileId, String), Error> {
        let mut counter = first_counter;
        loop {
            let name = name_for(counter);
            let path = self.dir.join(&name);
            if let Some(parent) = path.parent() {
                if parent != self.dir {
                    create_dirs_within(&self.dir, parent)?;
                }
            }
            // Append mode: every write lands at the end, also after `write_zeros` extends the file.
            match OpenOptions::new()
                .append(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
            {
                Ok(file) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.make_room()?;
                    self.insert_open(id, file);
                    self.paths.insert(id, path);
                    return Ok((id, name));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let again = name_for(counter.saturating_add(1));
                    if again == name || counter == u32::MAX {
                        return Err(Error::Write { path, source: e });
                    }
                    counter += 1;
                }
                Err(source) => return Err(Error::Write { path, source }),
            }
        }
    }

    /// Append `data` to file `id`, reopening it if it was closed to make room.
    pub fn write(&mut self, id: FileId, data: &[u8]) -> Result<(), Error> {
        self.touch(id)?;
        self.stamped.remove(&id);
        let result = match self.open.get_mut(&id) {
            Some(f) => f.file.write_all(data),
            None => Ok(()),
        };
        result.map_err(|source| self.write_error(id, source))
    }

    /// Append `n` zero bytes to file `id`. Long runs extend the file without
    /// writing (a sparse hole where the file system supports it).
    pub fn write_zeros(&mut self, id: FileId, n: u64) -> Result<(), Error> {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        if n <= ZEROS.len() as u64 {
            return self.write(id, &ZEROS[..n as usize]);
        }
        self.touch(id)?;
        self.stamped.remove(&id);
        let result = match self.open.get_mut(&id) {
            Some(f) => f
                .file
                .metadata()
                .and_then(|m| f.file.set_len(m.len().saturating_add(n))),
            None => Ok(()),
        };
        result.map_err(|source| self.write_error(id, source))
    }

    /// Flush and close file `id` and set its modification time to `mtime`.
    pub fn close(&mut self, id: FileId, mtime: Timestamp) -> Result<(), Error> {
        let result = match self.open.remove(&id) {
            Some(f) => {
                self.by_use.remove(&f.last_use);
                Ok(f.file)
            }
            None => {
                // Not open: set the time by path, without following a link,
                // unless it was set when the file was released.
                if let Some(path) = self.paths.remove(&id) {
                    if !self.stamped.remove(&id) {
                        set_mtime_at(&path, mtime);
                    }
                }
                return Ok(());
            }
        };
        let file = result.map_err(|source| self.write_error(id, source))?;
        let when = system_time(mtime);
        let _ = file.set_modified(when);
        self.paths.remove(&id);
        self.stamped.remove(&id);
        Ok(())
    }

    /// Close file `id`'s descriptor for now (it is reopened if written to
    /// again) after setting its modification time to `mtime`: its direction
    /// is done unless late packets come, and then [`FileSink::close`] sets
    /// the time again.
    pub fn release(&mut self, id: FileId, mtime: Timestamp) {
        if let Some(f) = self.open.remove(&id) {
            self.by_use.remove(&f.last_use);
            if f.file.set_modified(system_time(mtime)).is_ok() {
                self.stamped.insert(id);
            }
        }
    }

    /// Nothing is buffered here; kept so every sink can be flushed alike.
    pub fn flush_all(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// The path of file `id` while it is known to the sink.
    pub fn path(&self, id: FileId) -> Option<&Path> {
        self.paths.get(&id).map(PathBuf::as_path)
    }

    fn write_error(&self, id: FileId, source: std::io::Error) -> Error {
        Error::Write {
            path: self
                .paths
                .get(&id)
                .cloned()
                .unwrap_or_else(|| self.dir.clone()),
            source,
        }
    }

    /// Make `id` the most recently used open file, reopening it if needed.
    fn touch(&mut self, id: FileId) -> Result<(), Error> {
        self.clock += 1;
        if let Some(f) = self.open.get_mut(&id) {
            self.by_use.remove(&f.last_use);
            f.last_use = self.clock;
            self.by_use.insert(self.clock, id);
            return Ok(());
        }
        let Some(path) = self.paths.get(&id).cloned() else {
            return Ok(());
        };
        self.make_room()?;
        let file = open_append(&path).map_err(|source| Error::Write { path, source })?;
        self.insert_open(id, file);
        Ok(())
    }

    fn insert_open(&mut self, id: FileId, file: File) {
        self.clock += 1;
        self.by_use.insert(self.clock, id);
        self.open.insert(
            id,
            OpenFile {
                file,
                last_use: self.clock,
            },
        );
    }

    /// Close least recently used files until one more may be opened.
    fn make_room(&mut self) -> Result<(), Error> {
        while self.open.len() >= self.max_open {
            let Some((_, id)) = self.by_use.pop_first() else {
                break;
            };
            // Dropping the file closes it; nothing is buffered.
            self.open.remove(&id);
        }
        Ok(())
    }
}

/// Create the folders from `dir` down to `parent` (a folder inside it) one
/// by one, never through a symbolic link: a link (or a file) where a folder
/// of the output goes is an error, so a planted link cannot take flow files
/// out of the output folder.
fn create_dirs_within(dir: &Path, parent: &Path) -> Result<(), Error> {
    let rel = parent.strip_prefix(dir).unwrap_or(parent);
    let mut at = dir.to_path_buf();
    for part in rel.components() {
        at.push(part);
        let fail = |source| Error::Write {
            path: at.clone(),
            source,
        };
        match std::fs::create_dir(&at) {
            Ok(()) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail(e)),
        }
        let meta = std::fs::symlink_metadata(&at).map_err(fail)?;
        if meta.file_type().is_symlink() {
            return Err(fail(std::io::Error::other(
                "a symbolic link is in the way of a folder of the output",
            )));
        }
        if !meta.is_dir() {
            return Err(fail(std::io::Error::other(
                "a file is in the way of a folder of the output",
            )));
        }
    }
    Ok(())
}

/// Create `path` (and its missing parent folders), or truncate it if it
/// exists, never through a symbolic link planted at its name: for the
/// report, the event stream and the HTTP index, which belong to the run.
pub fn create_truncated(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Set `path`'s modification time (leaving its access time) without
/// following a symbolic link; failures are ignored, as for open files.
fn set_mtime_at(path: &Path, mtime: Timestamp) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: mtime.secs as libc::time_t,
            tv_nsec: libc::c_long::from(mtime.nanos as i32),
        },
    ];
    // SAFETY: a valid NUL-terminated path and two timespecs, as utimensat expects.
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        );
    }
}

fn system_time(ts: Timestamp) -> SystemTime {
    let since = Duration::new(ts.secs.unsigned_abs(), ts.nanos);
    if ts.secs >= 0 {
        SystemTime::UNIX_EPOCH + since
    } else {
        SystemTime::UNIX_EPOCH
            .checked_sub(since)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tcpflow's naming for one 4-tuple: `x`, then `xc1`, `xc2`, ...
    fn x_then_xc(counter: u32) -> String {
        if counter == 0 {
            "x".to_string()
        } else {
            format!("xc{counter}")
        }
    }

    #[test]
    fn existing_file_is_not_overwritten_next_counter_taken() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), b"old").unwrap();
        let mut sink = FileSink::new(dir.path(), 4).unwrap();
        let (id, taken) = sink.create(0, &x_then_xc).unwrap();
        assert_eq!(taken, "xc1");
        sink.write(id, b"new").unwrap();
        sink.close(id, Timestamp::new(1_000_000, 0)).unwrap();
        assert_eq!(std::fs::read(dir.path().join("x")).unwrap(), b"old");
        assert_eq!(std::fs::read(dir.path().join("xc1")).unwrap(), b"new");
        let mtime = std::fs::metadata(dir.path().join("xc1"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(
            mtime,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
        );
    }

    #[test]
    fn symlink_in_output_folder_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("x")).unwrap();
        let mut sink = FileSink::new(dir.path(), 4).unwrap();
        let (id, taken) = sink.create(0, &x_then_xc).unwrap();
        assert_eq!(taken, "xc1");
        sink.write(id, b"data").unwrap();
        sink.close(id, Timestamp::default()).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }

    #[test]
    fn symlink_in_place_of_a_subfolder_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), out.join("a")).unwrap();
        let mut sink = FileSink::new(&out, 4).unwrap();
        let err = sink.create(0, &|_| "a/b/c".to_string()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: a symbolic link is in the way of a folder of the output",
                out.join("a").display()
            )
        );
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        let (id, _) = sink.create(0, &|_| "x/y/z".to_string()).unwrap();
        sink.write(id, b"inside").unwrap();
        sink.close(id, Timestamp::default()).unwrap();
        assert_eq!(std::fs::read(out.join("x/y/z")).unwrap(), b"inside");
    }

    #[test]
    fn one_open_file_at_a_time_gives_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(dir.path(), 1).unwrap();
        let (a, _) = sink.create(0, &|_| "a".to_string()).unwrap();
        let (b, _) = sink.create(0, &|_| "b".to_string()).unwrap();
        for i in 0..10u8 {
            sink.write(a, &[b'a', i]).unwrap();
            sink.write(b, &[b'b', i]).unwrap();
        }
        sink.close(a, Timestamp::default()).unwrap();
        sink.close(b, Timestamp::default()).unwrap();
        let a_bytes: Vec<u8> = (0..10u8).flat_map(|i| [b'a', i]).collect();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), a_bytes);
        assert_eq!(std::fs::read(dir.path().join("b")).unwrap().len(), 20);
    }

    #[test]
    fn long_zero_runs_extend_the_file_and_appends_follow_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(dir.path(), 2).unwrap();
        let (id, _) = sink.create(0, &|_| "z".to_string()).unwrap();
        sink.write(id, b"ab").unwrap();
        sink.write_zeros(id, 1 << 20).unwrap();
        sink.write_zeros(id, 3).unwrap();
        sink.write(id, b"cd").unwrap();
        sink.close(id, Timestamp::default()).unwrap();
        let bytes = std::fs::read(dir.path().join("z")).unwrap();
        assert_eq!(bytes.len(), 2 + (1 << 20) + 3 + 2);
        assert_eq!(&bytes[..2], b"ab");
        assert!(bytes[2..bytes.len() - 2].iter().all(|&b| b == 0));
        assert_eq!(&bytes[bytes.len() - 2..], b"cd");
    }
}
