//! CPU per thread of Wiber's own processes, from /proc/<pid>/task. A process's total says how much
//! it spends; its threads say on what: a client library's thread that busy-polls shows up here as
//! one thread near a whole core while the process's requests are few (BENCHMARKS.md, "The API's
//! producer").

use std::collections::BTreeMap;

use crate::probe::parse_stat;
use crate::text::row;

/// Each live thread's name and CPU seconds, by thread id.
pub type Threads = BTreeMap<u32, (String, f64)>;

/// The threads of `pid` now. A thread that ends while they are read is left out.
pub fn read(pid: &str) -> Result<Threads, String> {
    let dir = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))?;
    Ok(entries
        .flatten()
        .filter_map(|entry| {
            let tid = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            Some((tid, parse_stat(&stat)?))
        })
        .collect())
}

/// The `n` threads that used the most CPU between two readings, with the seconds each used; a
/// thread started in between counts from zero, one that ended is gone from `after` and left out.
pub fn busiest(before: &Threads, after: &Threads, n: usize) -> Vec<(u32, String, f64)> {
    let mut used: Vec<(u32, String, f64)> = after
        .iter()
        .map(|(tid, (name, seconds))| {
            let earlier = before.get(tid).map_or(0.0, |(_, s)| *s);
            (*tid, name.clone(), (seconds - earlier).max(0.0))
        })
        .collect();
    used.sort_by(|a, b| b.2.total_cmp(&a.2));
    used.truncate(n);
    used
}

/// Prints the busiest threads of each process read in both snapshots.
pub fn report(
    before: &[(String, Result<Threads, String>)],
    after: &[(String, Result<Threads, String>)],
    window: f64,
    messages: usize,
) {
    for ((name, b), (_, a)) in before.iter().zip(after) {
        println!(
            "\n{:<40} {:>8} {:>10} {:>12}",
            format!("Busiest threads of {name}"),
            "seconds",
            "avg cores",
            "ms / message"
        );
        match (b, a) {
            (Ok(b), Ok(a)) => {
                for (tid, thread, used) in busiest(b, a, 5) {
                    row(
                        &format!("{thread} ({tid})"),
                        format!(
                            "{used:>8.1} {:>10.2} {:>12.3}",
                            used / window,
                            used * 1000.0 / messages.max(1) as f64
                        ),
                    );
                }
            }
            (Err(e), _) | (_, Err(e)) => row(name, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_name_with_spaces_and_parentheses_is_read_whole() {
        let stat =
            "4242 (rdk:broker (1) x) S 1 2 3 0 -1 4194368 10 0 0 0 150 50 0 0 20 0 9 0 1 2 3";
        let (name, seconds) = parse_stat(stat).unwrap();
        assert_eq!(name, "rdk:broker (1) x");
        assert!(
            (seconds - 2.0).abs() < 1e-9,
            "150 + 50 ticks are 2 s, got {seconds}"
        );
    }

    #[test]
    fn a_truncated_stat_line_is_not_a_thread() {
        assert_eq!(parse_stat("4242 (tokio) S 1 2 3"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn busiest_ranks_by_cpu_used_between_readings_not_by_total() {
        let before = Threads::from([
            (1, ("old-busy".to_owned(), 100.0)),
            (2, ("spinner".to_owned(), 1.0)),
        ]);
        let after = Threads::from([
            (1, ("old-busy".to_owned(), 100.5)),
            (2, ("spinner".to_owned(), 4.0)),
            (3, ("new".to_owned(), 1.0)),
        ]);
        let top = busiest(&before, &after, 2);
        assert_eq!(
            top,
            [(2, "spinner".to_owned(), 3.0), (3, "new".to_owned(), 1.0)]
        );
    }

    #[test]
    fn the_threads_of_this_process_are_read() {
        let threads = read("self").unwrap();
        assert!(!threads.is_empty());
        assert!(
            threads
                .values()
                .all(|(name, seconds)| !name.is_empty() && *seconds >= 0.0)
        );
    }
}
