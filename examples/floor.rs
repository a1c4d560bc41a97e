//! The least CPU any program needs for the work a benchmark capture asks of
//! flowsplit, measured on this machine: read the capture, SHA-256 every
//! byte of every flow file (the report's `sha256`), and create, write,
//! stamp and close every flow file. Nothing is parsed or reassembled: the
//! figures are a floor under flowsplit's time, not an estimate of it.
//!
//! ```sh
//! cargo run --release --example floor -- CAPTURE OUT_DIR [BODIES_DIR]
//! ```
//!
//! With `BODIES_DIR` (the output folder of a `-e http` run of the same
//! capture), the floor of `-e http` too: its body files' sizes are taken
//! from there, and each body is also hashed (the index's `sha256`) and
//! created, written and closed as a file of its own. Reading the flow
//! bytes back, parsing and decoding are left out: still a floor.
//!
//! `CAPTURE.expected.tsv` (written by `bench_gen`) gives the number and
//! sizes of the flow files; `OUT_DIR` (a tmpfs folder, say) is created,
//! filled with that many files of those sizes, and removed again. Each part
//! is timed by the CPU time (user + system) it used; the floor on `-j`
//! cores is the sum divided by the number of cores.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// CPU seconds (user + system) this process used so far, all threads.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// Run `f`, returning its CPU and wall seconds.
fn timed(f: impl FnOnce()) -> (f64, f64) {
    let (c0, w0) = (cpu_seconds(), Instant::now());
    f();
    (cpu_seconds() - c0, w0.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (capture, out, bodies_dir) = match args.as_slice() {
        [capture, out] => (capture, out, None),
        [capture, out, bodies] => (capture, out, Some(PathBuf::from(bodies))),
        _ => return Err("usage: floor CAPTURE OUT_DIR [BODIES_DIR]".into()),
    };
    let capture = PathBuf::from(capture);
    let out = PathBuf::from(out);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let mut tsv = capture.clone().into_os_string();
    tsv.push(".expected.tsv");
    let mut sizes = Vec::new();
    for line in BufReader::new(File::open(&tsv)?).lines() {
        let line = line?;
        let size: usize = line.split('\t').nth(1).ok_or("bad tsv line")?.parse()?;
        sizes.push(size);
    }
    let total: usize = sizes.iter().sum();

    // Warm the page cache so the read is measured as flowsplit meets it.
    let read_all = || {
        let mut f = File::open(&capture).expect("open capture");
        let mut buf = vec![0u8; 256 << 10];
        while f.read(&mut buf).expect("read capture") > 0 {}
    };
    read_all();
    let (read_cpu, _) = timed(read_all);

    let data: Vec<u8> = (0..(1usize << 20)).map(|i| (i * 131 + 7) as u8).collect();
    let (sha_cpu, _) = timed(|| {
        let mut left = total;
        let mut h = Sha256::new();
        while left > 0 {
            let n = left.min(64 << 10);
            h.update(&data[..n]);
            left -= n;
        }
        std::hint::black_box(h.finalize());
    });

    // One writer thread and one per core: the cheaper in CPU is the floor
    // (several writers of one folder contend for its lock).
    let mut files = Vec::new();
    for threads in [1, cores] {
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out)?;
        let (cpu, wall) = timed(|| {
            std::thread::scope(|s| {
                for t in 0..threads {
                    let (sizes, data, out) = (&sizes, &data, &out);
                    s.spawn(move || write_files(out, sizes, t, threads, data));
                }
            })
        });
        std::fs::remove_dir_all(&out)?;
        files.push((cpu, wall, threads));
    }
    let (files_cpu, files_wall, files_threads) = files
        .iter()
        .copied()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .ok_or("no measurement")?;

    let bodies = match &bodies_dir {
        Some(dir) => Some(body_floor(dir, &out, &data, cores)?),
        None => None,
    };
    let sum = read_cpu + sha_cpu + files_cpu;
    println!(
        "{}: {} files, {:.2} GB of flow data, {:.2} GB capture",
        capture.display(),
        sizes.len(),
        total as f64 / 1e9,
        std::fs::metadata(&capture)?.len() as f64 / 1e9
    );
    println!("read the capture (256 KiB reads):            {read_cpu:6.2} CPU s");
    println!("sha256 of every flow byte (sha2):            {sha_cpu:6.2} CPU s");
    println!(
        "create+write+stamp+close every file:          {files_cpu:6.2} CPU s ({files_threads} thread(s), {files_wall:.2} s wall)"
    );
    println!(
        "sum {sum:.2} CPU s: at least {:.2} s wall on {cores} cores",
        sum / cores as f64
    );
    if let Some((count, bytes, sha, files)) = bodies {
        let all = sum + sha + files;
        println!("-e http: {count} body files, {:.2} GB", bytes as f64 / 1e9);
        println!("sha256 of every body byte (sha2):            {sha:6.2} CPU s");
        println!("create+write+close every body file:          {files:6.2} CPU s");
        println!(
            "with the flows' {sum:.2}: {all:.2} CPU s: at least {:.2} s wall on {cores} cores",
            all / cores as f64
        );
    }
    Ok(())
}

/// The floor of carving's output: the body files under `dir` (named
/// `-HTTPBODY-` or `-HTTPREQBODY-`) hashed and written again as new files
/// in `out`. Returns their number, their bytes, and the CPU seconds of the
/// hashing and of the files (the cheaper of one writer and one per core).
fn body_floor(
    dir: &Path,
    out: &Path,
    data: &[u8],
    cores: usize,
) -> Result<(usize, usize, f64, f64), Box<dyn std::error::Error>> {
    let mut sizes = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.contains("-HTTPBODY-") || name.contains("-HTTPREQBODY-") {
            sizes.push(usize::try_from(entry.metadata()?.len())?);
        }
    }
    let total: usize = sizes.iter().sum();
    let (sha_cpu, _) = timed(|| {
        for &size in &sizes {
            let mut h = Sha256::new();
            let mut left = size;
            while left > 0 {
                let n = left.min(64 << 10);
                h.update(&data[..n]);
                left -= n;
            }
            std::hint::black_box(h.finalize());
        }
    });
    let mut best = f64::MAX;
    for threads in [1, cores] {
        let _ = std::fs::remove_dir_all(out);
        std::fs::create_dir_all(out)?;
        let (cpu, _) = timed(|| {
            std::thread::scope(|s| {
                for t in 0..threads {
                    let sizes = &sizes;
                    s.spawn(move || {
                        for (i, &size) in sizes.iter().enumerate().skip(t).step_by(threads) {
                            let mut f = std::fs::OpenOptions::new()
                                .write(true)
                                .create_new(true)
                                .open(out.join(format!("{i:08}")))
                                .expect("create file");
                            f.write_all(&data[..size.min(data.len())])
                                .expect("write file");
                            let mut left = size.saturating_sub(data.len());
                            while left > 0 {
                                let n = left.min(data.len());
                                f.write_all(&data[..n]).expect("write file");
                                left -= n;
                            }
                        }
                    });
                }
            })
        });
        std::fs::remove_dir_all(out)?;
        best = best.min(cpu);
    }
    Ok((sizes.len(), total, sha_cpu, best))
}

/// Create every `step`th file from `first`, write its bytes in 64 KiB
/// writes, set its modification time and close it, as flowsplit does.
fn write_files(out: &Path, sizes: &[usize], first: usize, step: usize, data: &[u8]) {
    for (i, &size) in sizes.iter().enumerate().skip(first).step_by(step) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(out.join(format!("{i:08}")))
            .expect("create file");
        let mut left = size;
        while left > 0 {
            let n = left.min(64 << 10);
            f.write_all(&data[..n]).expect("write file");
            left -= n;
        }
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        f.set_modified(when).expect("set mtime");
    }
}
