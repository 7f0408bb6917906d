//! "Did you mean ...?" for names a user may have misspelt.

/// The candidate closest to `name`, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        // Short names: allow one edit (a transposition counts as one); longer ones are
        // compared by similarity, which tolerates a wrong suffix such as "-only".
        let edits = strsim::damerau_levenshtein(name, candidate);
        let close_edit = edits <= (name.chars().count() / 4).max(1);
        let score = strsim::jaro_winkler(name, candidate) - edits as f64 * 1e-3;
        if (close_edit || score >= 0.8) && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let groups = ["autogroup:member", "autogroup:tagged", "autogroup:self"];
        assert_eq!(
            did_you_mean("autogroup:members-only", groups),
            Some("autogroup:member")
        );
        assert_eq!(
            did_you_mean("autogroup:memebr", groups),
            Some("autogroup:member")
        );
        assert_eq!(did_you_mean("xyz", groups), None);
        assert_eq!(did_you_mean("dts", ["src", "dst", "ip"]), Some("dst"));
        assert_eq!(did_you_mean("srcc", ["src", "dst", "ip"]), Some("src"));
    }
}
