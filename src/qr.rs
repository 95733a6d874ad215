//! A QR code in the terminal, for the device flow's complete verification URI: the
//! `qrcode` crate encodes, this draws with Unicode half blocks — two rows of modules per
//! line, so the code stays square in a terminal's tall cells and fits a small window.

use qrcode::{Color, QrCode};

/// Light modules around the code (the standard asks for 4; 2 reads fine on a screen and
/// keeps the code small).
const QUIET_ZONE: usize = 2;

/// How the modules reach the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Black on white, set with ANSI colours: right on any terminal theme.
    Colored,
    /// No colours (`NO_COLOR`): the terminal's own colours, taken as light text on a dark
    /// background, so light modules are drawn and dark ones left blank.
    Plain,
}

/// The modules of `data`'s QR code with the quiet zone, row by row (`true` = dark);
/// `None` when it does not fit in a QR code.
pub fn modules(data: &str) -> Option<(usize, Vec<bool>)> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    let inner = code.width();
    let colors = code.to_colors();
    let width = inner + 2 * QUIET_ZONE;
    let mut out = vec![false; width * width];
    for y in 0..inner {
        for x in 0..inner {
            out[(y + QUIET_ZONE) * width + x + QUIET_ZONE] = colors[y * inner + x] == Color::Dark;
        }
    }
    Some((width, out))
}

/// `data` as a QR code drawn in `style`, one string of lines; `None` when it does not fit.
pub fn render(data: &str, style: Style) -> Option<String> {
    let (width, dark) = modules(data)?;
    let drawn = |x: usize, y: usize| {
        let is_dark = y < width && dark[y * width + x];
        // A row past the end (odd height) is quiet zone: light.
        match style {
            Style::Colored => is_dark,
            Style::Plain => !is_dark,
        }
    };
    let mut out = String::new();
    for y in (0..width).step_by(2) {
        if style == Style::Colored {
            out.push_str("\x1b[30;107m");
        }
        for x in 0..width {
            out.push(match (drawn(x, y), drawn(x, y + 1)) {
                (true, true) => '\u{2588}',
                (true, false) => '\u{2580}',
                (false, true) => '\u{2584}',
                (false, false) => ' ',
            });
        }
        if style == Style::Colored {
            out.push_str("\x1b[0m");
        }
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Reads a rendering back into modules (`true` = dark), as a camera would see it.
    pub(crate) fn read_back(rendered: &str, style: Style) -> (usize, Vec<bool>) {
        let lines: Vec<Vec<char>> = rendered
            .lines()
            .map(|l| l.replace("\x1b[30;107m", "").replace("\x1b[0m", ""))
            .map(|l| l.chars().collect())
            .collect();
        let width = lines[0].len();
        let mut dark = vec![false; width * width];
        for (row, line) in lines.iter().enumerate() {
            assert_eq!(line.len(), width, "every line is as wide as the code");
            for (x, c) in line.iter().enumerate() {
                let (top, bottom) = match c {
                    '\u{2588}' => (true, true),
                    '\u{2580}' => (true, false),
                    '\u{2584}' => (false, true),
                    ' ' => (false, false),
                    other => panic!("unexpected {other:?} in the code"),
                };
                let (top, bottom) = match style {
                    Style::Colored => (top, bottom),
                    Style::Plain => (!top, !bottom),
                };
                for (y, is_dark) in [(2 * row, top), (2 * row + 1, bottom)] {
                    if y < width {
                        dark[y * width + x] = is_dark;
                    }
                }
            }
        }
        (width, dark)
    }

    /// Decodes modules with an independent QR decoder.
    pub(crate) fn decode(width: usize, dark: &[bool]) -> String {
        // Scale each module up, as a camera picture would be, black on white.
        const SCALE: usize = 4;
        let size = width * SCALE;
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(size, size, |x, y| {
            if dark[(y / SCALE) * width + x / SCALE] {
                0
            } else {
                255
            }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code");
        let (_, content) = grids[0].decode().expect("the code decodes");
        content
    }

    const URL: &str = "http://127.0.0.1:8400/device?user_code=BCDF-GHJK";

    #[test]
    fn both_styles_draw_exactly_the_modules_and_decode_to_the_url() {
        let expected = modules(URL).expect("fits");
        for style in [Style::Colored, Style::Plain] {
            let rendered = render(URL, style).expect("fits");
            let seen = read_back(&rendered, style);
            assert_eq!(seen, expected, "{style:?}");
            assert_eq!(decode(seen.0, &seen.1), URL, "{style:?}");
        }
        // Half blocks: a code of N modules takes ceil(N / 2) lines of N characters.
        let (width, _) = expected;
        assert_eq!(
            render(URL, Style::Plain).expect("fits").lines().count(),
            width.div_ceil(2)
        );
    }

    #[test]
    fn the_quiet_zone_is_light_and_too_much_data_is_none() {
        let (width, dark) = modules(URL).expect("fits");
        for i in 0..width {
            for q in 0..QUIET_ZONE {
                assert!(
                    !dark[q * width + i] && !dark[i * width + q],
                    "quiet zone at {i}"
                );
            }
        }
        assert!(render(&"x".repeat(8000), Style::Plain).is_none());
    }
}
