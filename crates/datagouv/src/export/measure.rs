//! What the throughput measures of the export code share (ignored tests,
//! run by hand in release): a typical window and a CPU clock.

/// A clock of this thread's time on the CPU (Linux), which other processes
/// do not inflate; wall time elsewhere.
pub(crate) struct CpuClock {
    wall: std::time::Instant,
    cpu: Option<u64>,
}

fn cpu_nanos() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
}

impl CpuClock {
    /// Starts the clock.
    pub(crate) fn start() -> CpuClock {
        CpuClock {
            wall: std::time::Instant::now(),
            cpu: cpu_nanos(),
        }
    }

    /// Seconds since the start.
    pub(crate) fn seconds(&self) -> f64 {
        match (self.cpu, cpu_nanos()) {
            (Some(start), Some(end)) => (end - start) as f64 / 1e9,
            _ => self.wall.elapsed().as_secs_f64(),
        }
    }
}

/// A CSV window of 50,000 rows as api-tabular writes them (header
/// included): ids, `names` in turn (quoted when they hold a space), codes,
/// integers, floats, `t`/`f`, dates, timestamps and a quoted text.
pub(crate) fn sample_window(names: &[&str]) -> String {
    let mut window = String::from("__id,nom,code,n,x,actif,date,horodatage,note\n");
    for id in 1..=50_000u64 {
        let name = names[(id % names.len() as u64) as usize];
        let quoted = if name.contains(' ') {
            format!("\"{}\"", name.replace('"', "\"\""))
        } else {
            name.to_owned()
        };
        window.push_str(&format!(
            "{id},{quoted},{:05},{},{}.25,{},2024-{:02}-{:02},\"2024-03-30 {:02}:15:00\",\"libellé numéro {id}, texte\"\n",
            id * 1789 % 99999,
            id * 37 % 101,
            id * 3 / 2,
            if id % 2 == 0 { 't' } else { 'f' },
            1 + id % 12,
            1 + id % 28,
            id % 24,
        ));
    }
    window
}
