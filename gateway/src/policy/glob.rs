//! IAM wildcards: `*` matches any run of characters (also none), `?` any
//! one character. Used for actions (without case), resources and
//! `StringLike` values (with case).

/// Whether `text` matches `pattern`; `fold_case` compares ASCII letters
/// without case. Linear in practice: the classic two-pointer match with
/// one backtrack point, no recursion. ASCII inputs (nearly all) are
/// matched on their bytes, without allocating; others by characters.
pub fn matches(pattern: &str, text: &str, fold_case: bool) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        match_units(pattern.as_bytes(), text.as_bytes(), fold_case)
    } else {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        match_units(&p, &t, fold_case)
    }
}

/// A unit of text: a byte of ASCII text or a character.
trait Unit: Copy + PartialEq {
    fn is(self, c: char) -> bool;
    fn same(self, other: Self, fold_case: bool) -> bool;
}

impl Unit for u8 {
    fn is(self, c: char) -> bool {
        char::from(self) == c
    }
    fn same(self, other: u8, fold_case: bool) -> bool {
        if fold_case {
            self.eq_ignore_ascii_case(&other)
        } else {
            self == other
        }
    }
}

impl Unit for char {
    fn is(self, c: char) -> bool {
        self == c
    }
    fn same(self, other: char, fold_case: bool) -> bool {
        if fold_case {
            self.eq_ignore_ascii_case(&other)
        } else {
            self == other
        }
    }
}

fn match_units<U: Unit>(p: &[U], t: &[U], fold_case: bool) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi].is('?') || (!p[pi].is('*') && p[pi].same(t[ti], fold_case))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi].is('*') {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| c.is('*'))
}

/// Whether `pattern` holds a wildcard.
pub fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("s3:Get*", "s3:GetObject", false));
        assert!(matches("s3:get*", "s3:GetObject", true));
        assert!(!matches("s3:get*", "s3:GetObject", false));
        assert!(matches("*", "", false));
        assert!(matches("a*b*c", "aXXbYYc", false));
        assert!(!matches("a*b*c", "aXXbYY", false));
        assert!(matches("a?c", "abc", false));
        assert!(!matches("a?c", "ac", false));
        assert!(matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y", false));
        assert!(!matches("arn:aws:s3:::b/*", "arn:aws:s3:::b", false));
        assert!(matches("**a", "a", false));
        assert!(matches("caf?/*", "café/x", false), "? is one character");
        assert!(!matches("caf??/*", "café/x", false));
    }
}
