//! QR rendering (the `qrcode` crate, error correction M): an SVG, a module matrix a shell can draw,
//! and unicode half blocks for a terminal.

use qrcode::{render::svg, Color, EcLevel, QrCode};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A rendered QR code. `modules` is row-major, `width * width` entries, `true` = dark; it has no
/// quiet zone (draw four light modules around it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct QrImage {
    pub width: u32,
    pub version: i16,
    pub modules: Vec<bool>,
    pub svg: String,
}

/// The longest text a QR code holds at error correction M (version 40, alphanumeric mode: 3,391 characters;
/// bytes fit fewer). A longer text is refused before the encoder looks at it (the encoder tries every version
/// on the whole text first: seconds for megabytes).
pub const MAX_QR_CHARS: usize = 3_391;

pub fn render(text: &str) -> Result<QrImage> {
    if text.len() > MAX_QR_CHARS {
        return Err(Error::validation(
            "qr_text",
            format!("内容过长，无法生成二维码（最多 {MAX_QR_CHARS} 个字符）"),
            format!("too long for a QR code (at most {MAX_QR_CHARS} characters)"),
        ));
    }
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| {
        Error::validation("qr_text", format!("无法生成二维码：{e}"), format!("cannot make a QR code: {e}"))
    })?;
    let width = code.width() as u32;
    let version = match code.version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
    };
    let modules = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build();
    Ok(QrImage { width, version, modules, svg })
}

impl QrImage {
    pub fn dark(&self, x: i64, y: i64) -> bool {
        let w = self.width as i64;
        x >= 0 && y >= 0 && x < w && y < w && self.modules[(y * w + x) as usize]
    }

    /// Unicode half blocks, two module rows per text line, with a 2-module quiet zone; dark modules
    /// are drawn as spaces on a light background so it scans on dark terminals too.
    pub fn to_terminal(&self) -> String {
        let q = 2i64;
        let w = self.width as i64;
        let mut out = String::new();
        let mut y = -q;
        while y < w + q {
            for x in -q..w + q {
                let top = self.dark(x, y);
                let bottom = self.dark(x, y + 1);
                out.push(match (top, bottom) {
                    (false, false) => '█',
                    (false, true) => '▀',
                    (true, false) => '▄',
                    (true, true) => ' ',
                });
            }
            out.push('\n');
            y += 2;
        }
        out
    }

    /// A greyscale image (0 = black, 255 = white), `scale` pixels per module, 4-module quiet zone.
    pub fn to_luma(&self, scale: u32) -> (u32, Vec<u8>) {
        let q = 4i64;
        let s = scale.max(1) as i64;
        let side = (self.width as i64 + 2 * q) * s;
        let mut px = vec![255u8; (side * side) as usize];
        for py in 0..side {
            for pxx in 0..side {
                if self.dark(pxx / s - q, py / s - q) {
                    px[(py * side + pxx) as usize] = 0;
                }
            }
        }
        (side as u32, px)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_text_a_code_holds_renders_and_a_longer_one_is_refused_before_encoding() {
        let full = "Z".repeat(MAX_QR_CHARS);
        assert_eq!(render(&full).expect("fits version 40").version, 40);
        for long in [format!("{full}Z"), "Z".repeat(9 << 20)] {
            match render(&long) {
                Err(Error::Validation { field, message_en, .. }) => {
                    assert_eq!(field, "qr_text");
                    assert!(message_en.contains("at most 3391"), "{message_en}");
                }
                other => panic!("not refused by the length check: {:?}", other.map(|q| q.version)),
            }
        }
    }

    #[test]
    fn renders_matrix_svg_and_terminal() {
        let q = render("ZB1:HELLO").unwrap();
        assert_eq!(q.modules.len(), (q.width * q.width) as usize);
        assert!(q.svg.starts_with("<?xml") && q.svg.contains("<svg"));
        // Finder pattern: top-left module is dark.
        assert!(q.dark(0, 0));
        let t = q.to_terminal();
        assert_eq!(t.lines().count() as u32, (q.width + 4).div_ceil(2));
        let (side, px) = q.to_luma(3);
        assert_eq!(px.len() as u32, side * side);
        // Too long for any QR code: a validation error, not a panic.
        assert!(render(&"A".repeat(8000)).is_err());
    }
}
