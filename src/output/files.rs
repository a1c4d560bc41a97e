//! Flow files on disk: created without following symbolic links and without
//! overwriting anything, with at most a set number open at once (least
//! recently used closed first and reopened for appending when needed).
//!
//! The output folder is opened once, and every file (and subfolder) is
//! created, reopened and stamped relative to that open folder with `openat`
//! and friends: a folder renamed, or replaced by a symbolic link, while the
//! run goes on cannot take flow files anywhere else.
//!
//! Writes go straight to the file: the caller hands over large runs (the
//! flow table collects each direction's bytes), so no buffer is kept per
//! open file and keeping many files open costs descriptors, not memory.

use crate::capture::Timestamp;
use crate::error::Error;
use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Identifies one file of a [`FileSink`].
pub type FileId = std::num::NonZeroU64;

/// The first id a sink gives out.
pub const FIRST_FILE_ID: FileId = FileId::MIN;

/// A file's name relative to the output folder, rendered when the sink
/// needs it (to reopen the file, to stamp it by name, for an error): the
/// sink keeps no names, so an open direction costs no string.
pub type NameOf<'a> = &'a dyn Fn() -> String;

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
    /// The output folder, open: every name below is resolved from here.
    root: OwnedFd,
    max_open: usize,
    open: HashMap<FileId, OpenFile, foldhash::fast::RandomState>,
    by_use: BTreeMap<u64, FileId>,
    /// Files released with their final modification time already set and
    /// not written since.
    stamped: std::collections::HashSet<FileId, foldhash::fast::RandomState>,
    clock: u64,
    next_id: FileId,
}

impl FileSink {
    /// A sink writing into `dir`, which is created with its parents and
    /// then opened: files go into that folder even if its path is later
    /// renamed or replaced.
    pub fn new(dir: &Path, max_open: usize) -> Result<FileSink, Error> {
        let fail = |source| Error::Write {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let root = open_dir(dir).map_err(fail)?;
        Ok(FileSink {
            dir: dir.to_path_buf(),
            root,
            max_open: max_open.max(1),
            open: HashMap::default(),
            by_use: BTreeMap::new(),
            stamped: std::collections::HashSet::default(),
            clock: 0,
            next_id: FIRST_FILE_ID,
        })
    }

    /// The output folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Create a new file named by `name_for(counter)` for the first counter
    /// from `first_counter` whose name is free. Returns its id, the name
    /// taken (relative to the output folder) and the counter that gave it.
    pub fn create(
        &mut self,
        first_counter: u32,
        name_for: &dyn Fn(u32) -> String,
    ) -> Result<(FileId, String, u32), Error> {
        let mut counter = first_counter;
        loop {
            let name = name_for(counter);
            let (parent, leaf) = self.parent_of(Path::new(&name), true)?;
            let parent_fd = parent
                .as_ref()
                .map_or(self.root.as_raw_fd(), |f| f.as_raw_fd());
            // Append mode: every write lands at the end, also after `write_zeros` extends the file.
            let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL;
            match open_at(parent_fd, &leaf, flags) {
                Ok(file) => {
                    let id = self.next_id;
                    self.next_id = self.next_id.saturating_add(1);
                    self.make_room()?;
                    self.insert_open(id, file);
                    return Ok((id, name, counter));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let again = name_for(counter.saturating_add(1));
                    if again == name || counter == u32::MAX {
                        let path = self.dir.join(&name);
                        return Err(Error::Write { path, source: e });
                    }
                    counter += 1;
                }
                Err(source) => {
                    let path = self.dir.join(&name);
                    return Err(Error::Write { path, source });
                }
            }
        }
    }

    /// Append `data` to file `id`, named `name()`, reopening it if it was
    /// closed to make room.
    pub fn write(&mut self, id: FileId, name: NameOf<'_>, data: &[u8]) -> Result<(), Error> {
        self.touch(id, name)?;
        self.stamped.remove(&id);
        let result = match self.open.get_mut(&id) {
            Some(f) => f.file.write_all(data),
            None => Ok(()),
        };
        result.map_err(|source| self.write_error(name, source))
    }

    /// Append `n` zero bytes to file `id`. Long runs extend the file without
    /// writing (a sparse hole where the file system supports it).
    pub fn write_zeros(&mut self, id: FileId, name: NameOf<'_>, n: u64) -> Result<(), Error> {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        if n <= ZEROS.len() as u64 {
            return self.write(id, name, &ZEROS[..n as usize]);
        }
        self.touch(id, name)?;
        self.stamped.remove(&id);
        let result = match self.open.get_mut(&id) {
            Some(f) => f
                .file
                .metadata()
                .and_then(|m| f.file.set_len(m.len().saturating_add(n))),
            None => Ok(()),
        };
        result.map_err(|source| self.write_error(name, source))
    }

    /// Flush and close file `id`, named `name()`, and set its modification
    /// time to `mtime`.
    pub fn close(&mut self, id: FileId, name: NameOf<'_>, mtime: Timestamp) -> Result<(), Error> {
        let stamped = self.stamped.remove(&id);
        match self.open.remove(&id) {
            Some(f) => {
                self.by_use.remove(&f.last_use);
                let _ = f.file.set_modified(system_time(mtime));
            }
            // Not open: set the time by name, without following a link,
            // unless it was set when the file was released.
            None if !stamped => {
                if let Ok((parent, leaf)) = self.parent_of(Path::new(&name()), false) {
                    let fd = parent
                        .as_ref()
                        .map_or(self.root.as_raw_fd(), |f| f.as_raw_fd());
                    set_mtime_at(fd, &leaf, mtime);
                }
            }
            None => {}
        }
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

    /// Remove the file `name` (relative to the output folder), resolved as
    /// every other name here: from the open output folder, never through a
    /// symbolic link in place of one of its folders. It must not be open
    /// in this sink. Returns false when there was no such file; the
    /// folders it was in are left.
    pub fn remove(&self, name: &str) -> Result<bool, Error> {
        let fail = |source| Error::Write {
            path: self.dir.join(name),
            source,
        };
        let (parent, leaf) = match self.parent_of(Path::new(name), false) {
            Ok(found) => found,
            Err(Error::Write { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(false)
            }
            Err(e) => return Err(e),
        };
        let fd = parent
            .as_ref()
            .map_or(self.root.as_raw_fd(), |f| f.as_raw_fd());
        // SAFETY: a valid folder descriptor and a NUL-terminated name.
        if unsafe { libc::unlinkat(fd, leaf.as_ptr(), 0) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::NotFound {
                return Ok(false);
            }
            return Err(fail(e));
        }
        Ok(true)
    }

    /// Nothing is buffered here; kept so every sink can be flushed alike.
    pub fn flush_all(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn write_error(&self, name: NameOf<'_>, source: std::io::Error) -> Error {
        Error::Write {
            path: self.dir.join(name()),
            source,
        }
    }

    /// The folder that holds `name` (relative to the output folder), open
    /// (`None`: the output folder itself), and the last part of `name`.
    /// With `create`, missing folders are made. Each folder is opened
    /// without following a symbolic link, so a link (or a file) where a
    /// folder of the output goes is an error.
    fn parent_of(&self, name: &Path, create: bool) -> Result<(Option<OwnedFd>, CString), Error> {
        let parts: Vec<&std::ffi::OsStr> = name
            .components()
            .filter_map(|c| match c {
                Component::Normal(p) => Some(Ok(p)),
                Component::CurDir => None,
                _ => Some(Err(())),
            })
            .collect::<Result<_, ()>>()
            .map_err(|()| Error::Write {
                path: self.dir.join(name),
                source: std::io::Error::other(
                    "a flow file name must stay inside the output folder",
                ),
            })?;
        let Some((leaf, folders)) = parts.split_last() else {
            return Err(Error::Write {
                path: self.dir.join(name),
                source: std::io::Error::other("empty flow file name"),
            });
        };
        let mut at = self.dir.clone();
        let mut current: Option<OwnedFd> = None;
        for part in folders {
            at.push(part);
            let fail = |source| Error::Write {
                path: at.clone(),
                source,
            };
            let c = c_name(part).map_err(fail)?;
            let parent = current
                .as_ref()
                .map_or(self.root.as_raw_fd(), |f| f.as_raw_fd());
            if create {
                // SAFETY: a valid folder descriptor and NUL-terminated name.
                if unsafe { libc::mkdirat(parent, c.as_ptr(), 0o777) } != 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::AlreadyExists {
                        return Err(fail(e));
                    }
                }
            }
            let flags = libc::O_RDONLY | libc::O_DIRECTORY;
            match open_raw(parent, &c, flags) {
                Ok(fd) => current = Some(fd),
                Err(e) => return Err(fail(in_the_way(parent, &c).unwrap_or(e))),
            }
        }
        let leaf = c_name(leaf).map_err(|source| Error::Write {
            path: self.dir.join(name),
            source,
        })?;
        Ok((current, leaf))
    }

    /// Make `id` the most recently used open file, reopening it if needed.
    fn touch(&mut self, id: FileId, name: NameOf<'_>) -> Result<(), Error> {
        self.clock += 1;
        if let Some(f) = self.open.get_mut(&id) {
            self.by_use.remove(&f.last_use);
            f.last_use = self.clock;
            self.by_use.insert(self.clock, id);
            return Ok(());
        }
        let name = name();
        self.make_room()?;
        let (parent, leaf) = self.parent_of(Path::new(&name), false)?;
        let fd = parent
            .as_ref()
            .map_or(self.root.as_raw_fd(), |f| f.as_raw_fd());
        let file =
            open_at(fd, &leaf, libc::O_WRONLY | libc::O_APPEND).map_err(|source| Error::Write {
                path: self.dir.join(&name),
                source,
            })?;
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

/// `name` as a C string (a NUL in it is an error).
fn c_name(name: &std::ffi::OsStr) -> std::io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| std::io::Error::other("a NUL byte in a file name"))
}

/// Open the folder at `path` (following links in the path given: the
/// user chose it) for use with the `*at` calls.
fn open_dir(path: &Path) -> std::io::Result<OwnedFd> {
    let c = c_name(path.as_os_str())?;
    open_raw(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_DIRECTORY)
}

/// `openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC, 0666)`.
fn open_raw(dir: RawFd, name: &CString, flags: libc::c_int) -> std::io::Result<OwnedFd> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a NUL-terminated name; the descriptor returned is ours alone.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, 0o666 as libc::c_uint) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// [`open_raw`] as a [`File`].
fn open_at(dir: RawFd, name: &CString, flags: libc::c_int) -> std::io::Result<File> {
    open_raw(dir, name, flags).map(File::from)
}

/// Why `name` in `dir` could not be opened as a folder, when something
/// other than a folder is in the way.
fn in_the_way(dir: RawFd, name: &CString) -> Option<std::io::Error> {
    // SAFETY: fstatat writes only the struct given.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return None;
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFLNK => Some(std::io::Error::other(
            "a symbolic link is in the way of a folder of the output",
        )),
        libc::S_IFDIR => None,
        _ => Some(std::io::Error::other(
            "a file is in the way of a folder of the output",
        )),
    }
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

/// Open `path` for appending, creating it (and its missing parent folders)
/// if needed, never through a symbolic link planted at its name: for the
/// report, which keeps the lines of earlier runs into the same folder.
pub fn open_appending(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Set `name`'s (in folder `dir`) modification time, leaving its access
/// time, without following a symbolic link; failures are ignored, as for
/// open files.
fn set_mtime_at(dir: RawFd, name: &CString, mtime: Timestamp) {
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
    // SAFETY: a valid NUL-terminated name and two timespecs, as utimensat expects.
    unsafe {
        libc::utimensat(
            dir,
            name.as_ptr(),
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
        let (id, taken, _) = sink.create(0, &x_then_xc).unwrap();
        assert_eq!(taken, "xc1");
        sink.write(id, &|| taken.clone(), b"new").unwrap();
        sink.close(id, &|| taken.clone(), Timestamp::new(1_000_000, 0))
            .unwrap();
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
        let (id, taken, _) = sink.create(0, &x_then_xc).unwrap();
        assert_eq!(taken, "xc1");
        sink.write(id, &|| taken.clone(), b"data").unwrap();
        sink.close(id, &|| taken.clone(), Timestamp::default())
            .unwrap();
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
        let (id, _, _) = sink.create(0, &|_| "x/y/z".to_string()).unwrap();
        sink.write(id, &|| "x/y/z".to_string(), b"inside").unwrap();
        sink.close(id, &|| "x/y/z".to_string(), Timestamp::default())
            .unwrap();
        assert_eq!(std::fs::read(out.join("x/y/z")).unwrap(), b"inside");
    }

    #[test]
    fn output_folder_swapped_for_a_link_during_the_run_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let moved = dir.path().join("moved");
        // One open file at a time: `a` is closed and reopened after the swap.
        let mut sink = FileSink::new(&out, 1).unwrap();
        let (a, _, _) = sink.create(0, &|_| "a".to_string()).unwrap();
        sink.write(a, &|| "a".to_string(), b"before ").unwrap();
        std::fs::rename(&out, &moved).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), &out).unwrap();
        let (b, _, _) = sink.create(0, &|_| "b".to_string()).unwrap();
        sink.write(b, &|| "b".to_string(), b"new file").unwrap();
        sink.write(a, &|| "a".to_string(), b"after").unwrap();
        sink.close(a, &|| "a".to_string(), Timestamp::new(1_000_000, 0))
            .unwrap();
        sink.close(b, &|| "b".to_string(), Timestamp::new(1_000_000, 0))
            .unwrap();
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        assert_eq!(std::fs::read(moved.join("a")).unwrap(), b"before after");
        assert_eq!(std::fs::read(moved.join("b")).unwrap(), b"new file");
    }

    #[test]
    fn subfolder_swapped_for_a_link_during_the_run_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(dir.path(), 1).unwrap();
        let (x, _, _) = sink.create(0, &|_| "sub/x".to_string()).unwrap();
        sink.write(x, &|| "sub/x".to_string(), b"one").unwrap();
        // `y` takes the only descriptor, so `x` must be reopened by name.
        let (y, _, _) = sink.create(0, &|_| "y".to_string()).unwrap();
        sink.write(y, &|| "y".to_string(), b"y").unwrap();
        std::fs::rename(dir.path().join("sub"), dir.path().join("sub2")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("sub")).unwrap();
        let err = sink.write(x, &|| "sub/x".to_string(), b"two").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: a symbolic link is in the way of a folder of the output",
                dir.path().join("sub").display()
            )
        );
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        assert_eq!(std::fs::read(dir.path().join("sub2/x")).unwrap(), b"one");
    }

    #[test]
    fn remove_takes_the_file_and_never_goes_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("x"), b"keep").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("a")).unwrap();
        let mut sink = FileSink::new(dir.path(), 4).unwrap();
        let (id, _, _) = sink.create(0, &|_| "sub/x".to_string()).unwrap();
        sink.write(id, &|| "sub/x".to_string(), b"gone").unwrap();
        sink.close(id, &|| "sub/x".to_string(), Timestamp::default())
            .unwrap();
        assert!(sink.remove("sub/x").unwrap());
        assert!(!dir.path().join("sub/x").exists());
        assert!(dir.path().join("sub").is_dir(), "its folder is left");
        assert!(!sink.remove("sub/x").unwrap(), "already gone");
        assert!(!sink.remove("nothere/x").unwrap(), "no such folder");
        let err = sink.remove("a/x").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: a symbolic link is in the way of a folder of the output",
                dir.path().join("a").display()
            )
        );
        assert_eq!(std::fs::read(elsewhere.path().join("x")).unwrap(), b"keep");
    }

    #[test]
    fn one_open_file_at_a_time_gives_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(dir.path(), 1).unwrap();
        let (a, _, _) = sink.create(0, &|_| "a".to_string()).unwrap();
        let (b, _, _) = sink.create(0, &|_| "b".to_string()).unwrap();
        for i in 0..10u8 {
            sink.write(a, &|| "a".to_string(), &[b'a', i]).unwrap();
            sink.write(b, &|| "b".to_string(), &[b'b', i]).unwrap();
        }
        sink.close(a, &|| "a".to_string(), Timestamp::default())
            .unwrap();
        sink.close(b, &|| "b".to_string(), Timestamp::default())
            .unwrap();
        let a_bytes: Vec<u8> = (0..10u8).flat_map(|i| [b'a', i]).collect();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), a_bytes);
        assert_eq!(std::fs::read(dir.path().join("b")).unwrap().len(), 20);
    }

    #[test]
    fn long_zero_runs_extend_the_file_and_appends_follow_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(dir.path(), 2).unwrap();
        let (id, _, _) = sink.create(0, &|_| "z".to_string()).unwrap();
        sink.write(id, &|| "z".to_string(), b"ab").unwrap();
        sink.write_zeros(id, &|| "z".to_string(), 1 << 20).unwrap();
        sink.write_zeros(id, &|| "z".to_string(), 3).unwrap();
        sink.write(id, &|| "z".to_string(), b"cd").unwrap();
        sink.close(id, &|| "z".to_string(), Timestamp::default())
            .unwrap();
        let bytes = std::fs::read(dir.path().join("z")).unwrap();
        assert_eq!(bytes.len(), 2 + (1 << 20) + 3 + 2);
        assert_eq!(&bytes[..2], b"ab");
        assert!(bytes[2..bytes.len() - 2].iter().all(|&b| b == 0));
        assert_eq!(&bytes[bytes.len() - 2..], b"cd");
    }
}
