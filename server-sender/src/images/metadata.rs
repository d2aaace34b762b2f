//! An uploaded image's bytes as they are kept: only what draws the picture, nothing that
//! says where, when or with what it was made. Each format is read as a list of its
//! parts and only parts on an allow-list are copied (EXIF, XMP, comments, text chunks,
//! vendors' blocks and anything unknown are dropped), and nothing after the format's
//! own end (a JPEG's end-of-image marker, a GIF's trailer, a PNG's `IEND`, the end of a
//! WebP's RIFF chunk): phones put whole videos there, and tools put text.
//!
//! The one fact kept from EXIF is the orientation, written back as a minimal EXIF of
//! its own, so browsers show a photo upright without the server turning a full-size copy.

use image::metadata::Orientation;

/// A TIFF structure (what EXIF is) holding only the orientation tag; `None` when the
/// image needs no turning.
pub(crate) fn orientation_tiff(orientation: Orientation) -> Option<Vec<u8>> {
    if orientation == Orientation::NoTransforms {
        return None;
    }
    let mut tiff = b"MM\0\x2a".to_vec(); // big-endian TIFF
    tiff.extend_from_slice(&8u32.to_be_bytes()); // the first IFD, right after
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry:
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); //   Orientation,
    tiff.extend_from_slice(&3u16.to_be_bytes()); //   a SHORT,
    tiff.extend_from_slice(&1u32.to_be_bytes()); //   one of them,
    tiff.extend_from_slice(&[0, orientation.to_exif(), 0, 0]); //   its value.
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no further IFD
    Some(tiff)
}

/// A JPEG with only its picture: no APPn segments but JFIF's, no comments, nothing
/// after its end-of-image marker; `None` if it is not a JPEG.
pub(crate) fn jpeg(jpeg: &[u8], orientation: Orientation) -> Option<Vec<u8>> {
    if jpeg.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut out = Vec::with_capacity(jpeg.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    if let Some(tiff) = orientation_tiff(orientation) {
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&(2 + 6 + tiff.len() as u16).to_be_bytes());
        out.extend_from_slice(b"Exif\0\0");
        out.extend_from_slice(&tiff);
    }
    let mut at = 2;
    loop {
        let Some(&byte) = jpeg.get(at) else {
            // Cut short: what arrived, properly ended.
            out.extend_from_slice(&[0xFF, 0xD9]);
            return Some(out);
        };
        if byte != 0xFF {
            return None;
        }
        let marker = *jpeg.get(at + 1)?;
        match marker {
            // Fill bytes before a marker.
            0xFF => {
                at += 1;
                continue;
            }
            // End of image: nothing after it is kept.
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Some(out);
            }
            // Markers that stand alone.
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&[0xFF, marker]);
                at += 2;
                continue;
            }
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([*jpeg.get(at + 2)?, *jpeg.get(at + 3)?]));
        let segment = jpeg.get(at..at + 2 + length)?;
        let is_jfif = marker == 0xE0 && segment.get(4..9) == Some(b"JFIF\0");
        let metadata =
            (0xE1..=0xEF).contains(&marker) || marker == 0xFE || (marker == 0xE0 && !is_jfif);
        if !metadata {
            out.extend_from_slice(segment);
        }
        at += 2 + length;
        if marker == 0xDA {
            // A scan's coded data runs to the next marker that is not a restart or an
            // escaped 0xFF byte.
            let start = at;
            while at < jpeg.len() {
                if jpeg[at] == 0xFF {
                    match jpeg.get(at + 1) {
                        Some(0x00 | 0xD0..=0xD7) => at += 2,
                        _ => break,
                    }
                } else {
                    at += 1;
                }
            }
            out.extend_from_slice(&jpeg[start..at.min(jpeg.len())]);
        }
    }
}

/// PNG chunks that draw the picture (and animate it): everything else is dropped.
const PNG_KEPT: [&[u8; 4]; 16] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"bKGD", b"pHYs", b"cICP", b"acTL", b"fcTL", b"fdAT",
];

/// A PNG with only the chunks that draw it, ending at `IEND`; `None` if it is not a PNG.
pub(crate) fn png(png: &[u8], orientation: Orientation) -> Option<Vec<u8>> {
    if png.get(..8)? != b"\x89PNG\r\n\x1a\n" {
        return None;
    }
    let mut out = Vec::with_capacity(png.len());
    out.extend_from_slice(&png[..8]);
    let mut at = 8;
    while at < png.len() {
        let length = u32::from_be_bytes(png.get(at..at + 4)?.try_into().ok()?) as usize;
        let kind = png.get(at + 4..at + 8)?;
        let chunk = png.get(at..at.checked_add(12)?.checked_add(length)?)?;
        if PNG_KEPT.iter().any(|k| k.as_slice() == kind) {
            out.extend_from_slice(chunk);
        }
        if kind == b"IHDR"
            && let Some(tiff) = orientation_tiff(orientation)
        {
            out.extend_from_slice(&png_chunk(b"eXIf", &tiff));
        }
        if kind == b"IEND" {
            break;
        }
        at += chunk.len();
    }
    Some(out)
}

pub(crate) fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = Vec::with_capacity(12 + data.len());
    chunk.extend_from_slice(&(data.len() as u32).to_be_bytes());
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    chunk.extend_from_slice(&crc.finalize().to_be_bytes());
    chunk
}

/// WebP chunks that draw the picture (and animate it).
const WEBP_KEPT: [&[u8; 4]; 7] = [
    b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP",
];

/// A WebP with only the chunks that draw it, its extended header (VP8X) saying so;
/// `None` if it is not a WebP.
pub(crate) fn webp(webp: &[u8], orientation: Orientation) -> Option<Vec<u8>> {
    const EXIF_FLAG: u8 = 0x08;
    const XMP_FLAG: u8 = 0x04;
    if webp.get(..4)? != b"RIFF" || webp.get(8..12)? != b"WEBP" {
        return None;
    }
    let riff_size = u32::from_le_bytes(webp.get(4..8)?.try_into().ok()?) as usize;
    let end = 8usize.checked_add(riff_size)?.min(webp.len());
    let exif = orientation_tiff(orientation);
    let mut out = Vec::with_capacity(end);
    out.extend_from_slice(&webp[..12]);
    let mut at = 12;
    while at + 8 <= end {
        let kind = &webp[at..at + 4];
        let length = u32::from_le_bytes(webp[at + 4..at + 8].try_into().ok()?) as usize;
        // Chunks are padded to an even length.
        let chunk = webp.get(at..at.checked_add(8 + length + length % 2)?)?;
        if kind == b"VP8X" {
            let mut header = chunk.to_vec();
            let flags = header.get_mut(8)?;
            *flags &= !(EXIF_FLAG | XMP_FLAG);
            if exif.is_some() {
                *flags |= EXIF_FLAG;
            }
            out.extend_from_slice(&header);
        } else if WEBP_KEPT.iter().any(|k| k.as_slice() == kind) {
            out.extend_from_slice(chunk);
        }
        at += chunk.len();
    }
    // EXIF can only be there with an extended header, which an image turned by its
    // EXIF has.
    if let Some(tiff) = exif.filter(|_| out.get(12..16) == Some(b"VP8X")) {
        out.extend_from_slice(b"EXIF");
        out.extend_from_slice(&(tiff.len() as u32).to_le_bytes());
        out.extend_from_slice(&tiff);
        if tiff.len() % 2 == 1 {
            out.push(0);
        }
    }
    let size = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&size.to_le_bytes());
    Some(out)
}

/// A GIF with only its pictures and what animates them: no comments, no plain text, no
/// application blocks but the looping one (XMP rides in one), nothing after its
/// trailer; `None` if it is not a GIF.
pub(crate) fn gif(gif: &[u8]) -> Option<Vec<u8>> {
    if !matches!(gif.get(..6)?, b"GIF87a" | b"GIF89a") {
        return None;
    }
    let flags = *gif.get(10)?;
    let mut at = 13 + color_table_len(flags);
    let mut out = gif.get(..at)?.to_vec();
    loop {
        match gif.get(at) {
            // An extension: a label, then sub-blocks.
            Some(0x21) => {
                let label = *gif.get(at + 1)?;
                let next = after_sub_blocks(gif, at + 2)?;
                let kept = match label {
                    // Graphic control: a frame's delay and transparency.
                    0xF9 => true,
                    // Application: only the loop count.
                    0xFF => matches!(
                        gif.get(at + 3..at + 14),
                        Some(b"NETSCAPE2.0" | b"ANIMEXTS1.0")
                    ),
                    // Comments, plain text, anything else.
                    _ => false,
                };
                if kept {
                    out.extend_from_slice(&gif[at..next]);
                }
                at = next;
            }
            // An image: its descriptor, its colours, its code size, its data.
            Some(0x2C) => {
                let flags = *gif.get(at + 9)?;
                let data = at + 10 + color_table_len(flags);
                let next = after_sub_blocks(gif, data + 1)?;
                out.extend_from_slice(&gif[at..next]);
                at = next;
            }
            // The trailer, or the end of what arrived: nothing after it is kept.
            Some(0x3B) | None => {
                out.push(0x3B);
                return Some(out);
            }
            Some(_) => return None,
        }
    }
}

/// The length of the colour table a GIF's flags byte announces.
fn color_table_len(flags: u8) -> usize {
    if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 0x07) + 1)
    }
}

/// Where a GIF's sub-blocks starting at `at` end (after their empty block).
fn after_sub_blocks(gif: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = usize::from(*gif.get(at)?);
        at += 1 + length;
        if length == 0 {
            return Some(at);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use image::{DynamicImage, ImageFormat};
    use std::io::Cursor;

    /// The EXIF (TIFF) that turns an image as `orientation` says.
    pub(crate) fn orientation_exif(orientation: Orientation) -> Vec<u8> {
        orientation_tiff(orientation).unwrap()
    }

    pub(crate) use super::png_chunk;

    fn encoded(format: ImageFormat) -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            40,
            30,
            image::Rgb([10, 90, 200]),
        ));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn decodes(bytes: &[u8], format: ImageFormat) -> (u32, u32) {
        let image = image::load_from_memory_with_format(bytes, format).unwrap();
        (image.width(), image.height())
    }

    #[test]
    fn a_jpeg_ends_at_its_end_of_image_marker() {
        let mut upload = encoded(ImageFormat::Jpeg);
        // What motion photos and some tools put after the picture.
        upload.extend_from_slice(b"ftypmp42 a whole video, and 59.9139 N 10.7522 E");
        let kept = jpeg(&upload, Orientation::NoTransforms).unwrap();
        assert!(!contains(&kept, b"59.9139"));
        assert_eq!(&kept[kept.len() - 2..], [0xFF, 0xD9]);
        assert_eq!(decodes(&kept, ImageFormat::Jpeg), (40, 30));
    }

    #[test]
    fn a_progressive_or_restarted_jpeg_keeps_every_scan() {
        // Markers inside coded data (restarts, escaped 0xFF) and a segment between
        // scans, as progressive JPEGs have.
        let mut upload = vec![0xFF, 0xD8];
        upload.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02]);
        upload.extend_from_slice(&[0x11, 0xFF, 0x00, 0x22, 0xFF, 0xD0, 0x33]);
        upload.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x06, b'n', b'o', b't', b'e']);
        upload.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x03, 0x07]);
        upload.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x03, 0x09, 0x44, 0xFF, 0xD9]);
        upload.extend_from_slice(b"after the end");
        let kept = jpeg(&upload, Orientation::NoTransforms).unwrap();
        let mut expected = vec![0xFF, 0xD8];
        expected.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02]);
        expected.extend_from_slice(&[0x11, 0xFF, 0x00, 0x22, 0xFF, 0xD0, 0x33]);
        expected.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x03, 0x07]);
        expected.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x03, 0x09, 0x44, 0xFF, 0xD9]);
        assert_eq!(kept, expected);
    }

    #[test]
    fn a_gif_loses_its_comments_application_blocks_and_what_follows_it() {
        let plain = encoded(ImageFormat::Gif);
        // After the header and the global colour table (flags at byte 10).
        let at = 13 + color_table_len(plain[10]);
        let mut upload = plain[..at].to_vec();
        let looping = [
            &[0x21, 0xFF, 0x0B][..],
            b"NETSCAPE2.0",
            &[0x03, 0x01, 0x00, 0x00, 0x00],
        ]
        .concat();
        upload.extend_from_slice(&looping);
        upload.extend_from_slice(&[0x21, 0xFE, 0x0A]);
        upload.extend_from_slice(b"Ann's home");
        upload.push(0);
        // XMP rides in an application block.
        upload.extend_from_slice(&[0x21, 0xFF, 0x0B]);
        upload.extend_from_slice(b"XMP DataXMP");
        upload.extend_from_slice(&[0x0E]);
        upload.extend_from_slice(b"GPS 59.9139 N ");
        upload.push(0);
        upload.extend_from_slice(&plain[at..]);
        upload.extend_from_slice(b"trailing 10.7522 E");
        let kept = gif(&upload).unwrap();
        assert!(!contains(&kept, b"Ann's home"));
        assert!(!contains(&kept, b"GPS"));
        assert!(!contains(&kept, b"10.7522"));
        assert!(contains(&kept, b"NETSCAPE2.0"), "it still loops");
        assert_eq!(kept.last(), Some(&0x3B));
        assert_eq!(decodes(&kept, ImageFormat::Gif), (40, 30));
    }

    #[test]
    fn a_png_keeps_only_the_chunks_that_draw_it_up_to_its_end() {
        let plain = encoded(ImageFormat::Png);
        let mut upload = plain[..33].to_vec();
        upload.extend_from_slice(&png_chunk(b"prVt", b"a vendor's 59.9139 N"));
        upload.extend_from_slice(&png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0GPS"));
        upload.extend_from_slice(&plain[33..]);
        upload.extend_from_slice(b"after IEND 10.7522 E");
        let kept = png(&upload, Orientation::NoTransforms).unwrap();
        assert_eq!(kept, plain);
    }

    #[test]
    fn a_webp_keeps_only_the_chunks_that_draw_it() {
        let plain = encoded(ImageFormat::WebP);
        let mut body = plain[8..].to_vec();
        body.extend_from_slice(b"ZZZZ\x08\0\0\x0059.9139N");
        let mut upload = b"RIFF".to_vec();
        upload.extend_from_slice(&(body.len() as u32).to_le_bytes());
        upload.extend_from_slice(&body);
        upload.extend_from_slice(b"after the RIFF 10.7522 E");
        let kept = webp(&upload, Orientation::NoTransforms).unwrap();
        assert_eq!(kept, plain);
    }
}
