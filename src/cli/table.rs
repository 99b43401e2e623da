//! Aligned tables for people: a header line, then one line per row, every
//! column as wide as its widest cell.

/// `rows` under `header`, columns two spaces apart; the last column is not
/// padded, so no line ends in spaces.
pub fn render<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        for (i, (cell, width)) in cells.zip(widths).enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_lines_end_without_spaces() {
        let rows = [
            ["shop".to_owned(), "3".to_owned(), "x".to_owned()],
            ["a".to_owned(), "12345".to_owned(), "-".to_owned()],
        ];
        assert_eq!(
            render(["NAME", "N", "LAST"], &rows),
            "NAME  N      LAST\nshop  3      x\na     12345  -\n"
        );
        assert_eq!(render(["ONLY"], &[]), "ONLY\n");
    }
}
