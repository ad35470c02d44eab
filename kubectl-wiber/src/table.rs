//! Text the way kubectl prints it: aligned columns and short ages.

use jiff::Timestamp;

/// Rows under a header, each column as wide as its widest cell, two spaces apart; the last
/// column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// How long ago, as kubectl says it: 45s, 12m, 5h, 3d.
pub fn age(since: Timestamp, now: Timestamp) -> String {
    let s = now.duration_since(since).as_secs().max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell_and_the_last_is_not_padded() {
        let text = table(
            &["TYPE", "STATUS", "MESSAGE"],
            &[
                vec!["Ready".into(), "True".into(), "all good".into()],
                vec!["ConsumersAvailable".into(), "False".into(), "0 of 1".into()],
            ],
        );
        assert_eq!(
            text,
            "TYPE                STATUS  MESSAGE\n\
             Ready               True    all good\n\
             ConsumersAvailable  False   0 of 1\n"
        );
    }

    #[test]
    fn ages_read_like_kubectls() {
        let now: Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
        let ago = |s: i64| age(now - jiff::SignedDuration::from_secs(s), now);
        assert_eq!(
            [
                ago(5),
                ago(119),
                ago(120),
                ago(7199),
                ago(7200),
                ago(200_000)
            ],
            ["5s", "119s", "2m", "119m", "2h", "2d"]
        );
        assert_eq!(age(now + jiff::SignedDuration::from_secs(9), now), "0s");
    }
}
