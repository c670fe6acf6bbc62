//! How the report writes a figure in a table cell: a number with its
//! digits or "-" where nothing was measured, a ratio of two, a list.

/// `v` with `digits` after the point, or "-".
pub fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.digits$}"))
}

/// `a ÷ b` with two digits, or "-".
pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

/// Numbers as "[a, b, c]", each rounded to a whole number.
pub fn whole(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.0}")).collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_in_brackets() {
        assert_eq!(whole(&[1.4, 2.6, 1000.49]), "[1, 3, 1000]");
        assert_eq!(whole(&[]), "[]");
    }

    #[test]
    fn missing_figures_are_dashes() {
        assert_eq!(cell(Some(1.234), 2), "1.23");
        assert_eq!(cell(None, 2), "-");
        assert_eq!(ratio(Some(3.0), Some(2.0)), "1.50");
        assert_eq!(ratio(Some(3.0), Some(0.0)), "-");
        assert_eq!(ratio(None, Some(1.0)), "-");
    }
}
