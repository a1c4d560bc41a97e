//! tcpflow's `-L NAME`: a named POSIX semaphore (`sem_open(3)`) held while
//! one console run is printed, so that several processes printing to the
//! same terminal do not mix their runs.
//!
//! Owns: opening the semaphore (created with value 1 if it does not exist,
//! as tcpflow creates it) and holding it for the span of a guard. Must
//! not: print anything.

use crate::error::Error;
use std::ffi::CString;

/// An open named semaphore.
pub struct Semlock {
    name: String,
    sem: *mut libc::sem_t,
}

// SAFETY: a named semaphore handle may be used from any thread; sem_wait
// and sem_post are thread-safe.
unsafe impl Send for Semlock {}

impl Semlock {
    /// Open the semaphore `name` (a leading `/` is added when missing),
    /// creating it with value 1 (mode 0644) if it does not exist.
    pub fn open(name: &str) -> Result<Semlock, Error> {
        let full = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/{name}")
        };
        let fail = |detail: String| Error::Usage(format!("-L {name}: {detail}"));
        let c = CString::new(full).map_err(|_| fail("the name holds a NUL byte".into()))?;
        // SAFETY: `c` is a valid C string; with O_CREAT sem_open takes a
        // mode and an initial value as its variadic arguments.
        let sem = unsafe { libc::sem_open(c.as_ptr(), libc::O_CREAT, 0o644 as libc::c_uint, 1) };
        if sem == libc::SEM_FAILED {
            return Err(fail(format!(
                "cannot open the semaphore: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(Semlock {
            name: name.to_string(),
            sem,
        })
    }

    /// Wait for the semaphore; it is posted again when the guard is dropped.
    pub fn hold(&self) -> Result<Held<'_>, Error> {
        loop {
            // SAFETY: `sem` is an open semaphore until `self` is dropped.
            if unsafe { libc::sem_wait(self.sem) } == 0 {
                return Ok(Held(self));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::Internal(format!(
                    "-L {}: cannot acquire the semaphore: {e}",
                    self.name
                )));
            }
        }
    }
}

impl Drop for Semlock {
    fn drop(&mut self) {
        // SAFETY: `sem` was returned by sem_open and is closed once.
        unsafe {
            libc::sem_close(self.sem);
        }
    }
}

/// The semaphore held; posted on drop.
pub struct Held<'a>(&'a Semlock);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // SAFETY: the semaphore is open while `Semlock` lives.
        unsafe {
            libc::sem_post(self.0.sem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_semaphore_is_posted_again() {
        let name = format!("flowsplit-test-{}", std::process::id());
        let lock = Semlock::open(&name).unwrap();
        drop(lock.hold().unwrap());
        // Held once and given back: it can be held again without blocking.
        drop(lock.hold().unwrap());
        let c = CString::new(format!("/{name}")).unwrap();
        // SAFETY: a valid C string.
        unsafe {
            libc::sem_unlink(c.as_ptr());
        }
    }
}
