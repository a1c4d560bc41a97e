//! Mutated captures (issue 6): the public captures in `../shared/corpus/`,
//! each cut at random offsets and each with 1% of its bytes changed, run
//! through the `flowsplit` binary (with `-e http`) into a fresh folder.
//! Every run must end with exit code 0 or 1 (never a signal, a panic's 101
//! or a usage error), within a minute, and must leave nothing outside its
//! output folder: no file beside it, no link or special file in it.
//!
//! By default a deterministic sample runs (every 7th capture, 10 cuts and 2
//! flipped copies each: about 150 runs, well under a minute in release
//! mode on 2 cores). `FLOWSPLIT_MUTATION_FULL=1` runs every capture with 100
//! cuts and 2 flipped copies each (about 8,700 runs).
//! `FLOWSPLIT_MUTATION_SEED=N` changes the seed (the default is fixed, so a
//! failure can be replayed); a failing input is kept in
//! `target/corpus_mutation_failures/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// splitmix64: a tiny, well-mixed deterministic generator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// The captures the corpus's MANIFEST.tsv lists, in its order.
fn captures() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let manifest = dir.join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. The shared captures must be in ../shared/corpus/, next to the clone (see README.md)",
            manifest.display()
        )
    });
    let files: Vec<PathBuf> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty())
        .map(|f| dir.join(f))
        .collect();
    assert!(
        !files.is_empty(),
        "{} lists no captures",
        manifest.display()
    );
    files
}

/// One mutated input.
struct Case {
    name: String,
    bytes: Vec<u8>,
}

/// The cases for one capture: `cuts` prefixes at random offsets and `flips`
/// copies with 1% of the bytes (at least one) changed.
fn mutations(path: &Path, cuts: usize, flips: usize, rng: &mut SplitMix64) -> Vec<Case> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stem = path
        .strip_prefix(corpus_dir())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('/', "_");
    let mut out = Vec::new();
    if data.is_empty() {
        return out;
    }
    for _ in 0..cuts {
        let at = rng.below(data.len() as u64) as usize;
        out.push(Case {
            name: format!("{stem}.cut{at}"),
            bytes: data[..at].to_vec(),
        });
    }
    for k in 0..flips {
        let mut bytes = data.clone();
        let n = (bytes.len() / 100).max(1);
        for _ in 0..n {
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] ^= (rng.below(255) + 1) as u8;
        }
        out.push(Case {
            name: format!("{stem}.flip{k}"),
            bytes,
        });
    }
    out
}

/// Every path under `dir` that is not a plain file or folder.
fn odd_entries(dir: &Path) -> Vec<String> {
    let mut odd = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return odd;
    };
    for e in rd {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            odd.extend(odd_entries(&p));
        } else if !m.is_file() {
            odd.push(p.display().to_string());
        }
    }
    odd
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Run flowsplit on one case inside `root`; `Err` says what went wrong.
fn run_case(root: &Path, index: usize, case: &Case) -> Result<(), String> {
    let work = root.join(format!("run{index}"));
    std::fs::create_dir(&work).unwrap();
    let input = work.join("input.pcap");
    std::fs::write(&input, &case.bytes).unwrap();
    let outdir = work.join("out");
    let threads = if index % 2 == 0 { "1" } else { "2" };
    let stderr_path = root.join(format!("stderr{index}"));
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(["-q", "-e", "http", "-j", threads, "-r"])
        .arg(&input)
        .arg("-o")
        .arg(&outdir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("still running after 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    std::fs::remove_file(&stderr_path).unwrap();
    let mut problems = Vec::new();
    match status.code() {
        Some(0 | 1) => {}
        Some(c) => problems.push(format!("exit code {c}")),
        None => problems.push(format!("killed by a signal ({status})")),
    }
    if err.contains("panicked") {
        problems.push("a panic".into());
    }
    let beside = names(&work);
    let expected: BTreeSet<String> = ["input.pcap", "out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if !beside.is_subset(&expected) {
        problems.push(format!("written beside the output folder: {beside:?}"));
    }
    let odd = odd_entries(&outdir);
    if !odd.is_empty() {
        problems.push(format!("not plain files: {odd:?}"));
    }
    let leftover: BTreeSet<String> = names(root)
        .into_iter()
        .filter(|n| !n.starts_with("run") && !n.starts_with("stderr"))
        .collect();
    if !leftover.is_empty() {
        problems.push(format!("written beside the run's folder: {leftover:?}"));
    }
    if problems.is_empty() {
        std::fs::remove_dir_all(&work).unwrap();
        Ok(())
    } else {
        Err(format!("{}; stderr: {}", problems.join(", "), err.trim()))
    }
}

#[test]
fn mutated_corpus_captures_never_crash_or_write_outside_the_output_folder() {
    let full = std::env::var("FLOWSPLIT_MUTATION_FULL").is_ok_and(|v| v == "1");
    let seed = std::env::var("FLOWSPLIT_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6f6c_6c61_7073_776f_u64);
    let all = captures();
    let (chosen, cuts, flips): (Vec<PathBuf>, usize, usize) = if full {
        (all, 100, 2)
    } else {
        (all.into_iter().step_by(7).collect(), 10, 2)
    };
    let root = tempfile::tempdir().unwrap();
    let failures = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    let runs = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(path) = chosen.get(i) else { break };
                let mut rng = SplitMix64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
                for (k, case) in mutations(path, cuts, flips, &mut rng).iter().enumerate() {
                    let index = i * 1000 + k;
                    runs.fetch_add(1, Ordering::SeqCst);
                    if let Err(why) = run_case(root.path(), index, case) {
                        let keep = Path::new(env!("CARGO_MANIFEST_DIR"))
                            .join("target/corpus_mutation_failures");
                        let _ = std::fs::create_dir_all(&keep);
                        let _ = std::fs::write(keep.join(&case.name), &case.bytes);
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{}: {why}", case.name));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    println!(
        "{} captures, {} runs in {:.1} s ({} mode, seed {seed:#x}), {} failures",
        chosen.len(),
        runs.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64(),
        if full { "full" } else { "sample" },
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} runs failed (inputs kept in target/corpus_mutation_failures/):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
