//! What an uploaded image becomes: its size in pixels, a thumbnail, and the original
//! without its metadata (EXIF carries where a photo was taken, and with what).

use std::io::Cursor;

use chat_types::files::THUMBNAIL_EDGE;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

/// An image as it is kept.
pub(crate) struct Prepared {
    /// The bytes to keep: the upload without metadata.
    pub original: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// A JPEG (or a PNG, for images with transparency) at most [`THUMBNAIL_EDGE`] wide
    /// and high.
    pub thumbnail: Vec<u8>,
}

/// The largest image decoded, in pixels: a small file can claim a huge canvas.
const MAX_PIXELS: u64 = 40_000_000;

/// Reads an image of `format`; `None` when it does not decode (then it is kept as a
/// plain file, shown as a card).
pub(crate) fn prepare(bytes: Vec<u8>, format: ImageFormat) -> Option<Prepared> {
    let mut reader = ImageReader::with_format(Cursor::new(&bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().ok()?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return None;
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).ok()?;
    let turned = orientation.is_some_and(|o| o != image::metadata::Orientation::NoTransforms);
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    let original = match format {
        // Turned by its metadata: kept turned, re-encoded (the metadata goes).
        ImageFormat::Jpeg if turned => encode(&image, ImageFormat::Jpeg)?,
        ImageFormat::Jpeg => strip_jpeg_metadata(&bytes)?,
        ImageFormat::Png => strip_png_metadata(&bytes)?,
        ImageFormat::WebP => strip_webp_metadata(&bytes)?,
        // GIF carries no EXIF.
        _ => bytes,
    };
    let thumbnail = image.thumbnail(THUMBNAIL_EDGE, THUMBNAIL_EDGE);
    let thumbnail = if thumbnail.color().has_alpha() {
        encode(&thumbnail, ImageFormat::Png)?
    } else {
        encode(&thumbnail, ImageFormat::Jpeg)?
    };
    Some(Prepared {
        original,
        width: image.width(),
        height: image.height(),
        thumbnail,
    })
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Option<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    let image = if format == ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(image.to_rgb8())
    } else {
        image.clone()
    };
    image.write_to(&mut out, format).ok()?;
    Some(out.into_inner())
}

/// A JPEG without its APPn segments other than JFIF's (EXIF, XMP, vendors') and
/// comments; `None` if it is not a well-formed JPEG.
fn strip_jpeg_metadata(jpeg: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(jpeg.len());
    out.extend_from_slice(jpeg.get(..2)?);
    let mut at = 2;
    loop {
        if *jpeg.get(at)? != 0xFF {
            return None;
        }
        let marker = *jpeg.get(at + 1)?;
        // Start of scan: the image data follows, to the end.
        if marker == 0xDA {
            out.extend_from_slice(&jpeg[at..]);
            return Some(out);
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
    }
}

/// A PNG without its text and EXIF chunks; `None` if it is not a well-formed PNG.
fn strip_png_metadata(png: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(png.len());
    out.extend_from_slice(png.get(..8)?);
    let mut at = 8;
    while at < png.len() {
        let length = u32::from_be_bytes(png.get(at..at + 4)?.try_into().ok()?) as usize;
        let kind = png.get(at + 4..at + 8)?;
        let chunk = png.get(at..at + 12 + length)?;
        if !matches!(kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME") {
            out.extend_from_slice(chunk);
        }
        at += 12 + length;
    }
    Some(out)
}

/// A WebP without its EXIF and XMP chunks, and with its extended header (VP8X) no
/// longer saying it has them; `None` if it is not a well-formed WebP.
fn strip_webp_metadata(webp: &[u8]) -> Option<Vec<u8>> {
    const EXIF_FLAG: u8 = 0x08;
    const XMP_FLAG: u8 = 0x04;
    if webp.get(..4)? != b"RIFF" || webp.get(8..12)? != b"WEBP" {
        return None;
    }
    let riff_size = u32::from_le_bytes(webp.get(4..8)?.try_into().ok()?) as usize;
    let end = 8usize.checked_add(riff_size)?;
    let mut out = Vec::with_capacity(end);
    out.extend_from_slice(&webp[..12]);
    let mut at = 12;
    while at < end {
        let kind = webp.get(at..at + 4)?;
        let length = u32::from_le_bytes(webp.get(at + 4..at + 8)?.try_into().ok()?) as usize;
        // Chunks are padded to an even length.
        let chunk = webp.get(at..at + 8 + length + length % 2)?;
        match kind {
            b"EXIF" | b"XMP " => {}
            b"VP8X" => {
                let mut header = chunk.to_vec();
                *header.get_mut(8)? &= !(EXIF_FLAG | XMP_FLAG);
                out.extend_from_slice(&header);
            }
            _ => out.extend_from_slice(chunk),
        }
        at += chunk.len();
    }
    let size = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&size.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small JPEG with an EXIF segment naming a place.
    fn jpeg_with_exif() -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            800,
            600,
            image::Rgb([200, 40, 40]),
        ));
        let plain = encode(&image, ImageFormat::Jpeg).unwrap();
        let exif_body = b"Exif\0\0GPS 59.9139 N 10.7522 E";
        let mut with = plain[..2].to_vec();
        with.extend_from_slice(&[0xFF, 0xE1]);
        with.extend_from_slice(&((exif_body.len() + 2) as u16).to_be_bytes());
        with.extend_from_slice(exif_body);
        with.extend_from_slice(&plain[2..]);
        with
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_photo_loses_its_metadata_and_gets_a_thumbnail() {
        let upload = jpeg_with_exif();
        assert!(contains(&upload, b"GPS 59.9139"));
        let prepared = prepare(upload, ImageFormat::Jpeg).unwrap();
        assert!(!contains(&prepared.original, b"GPS"), "EXIF stripped");
        assert_eq!((prepared.width, prepared.height), (800, 600));
        let thumbnail = image::load_from_memory(&prepared.thumbnail).unwrap();
        assert_eq!(
            (thumbnail.width(), thumbnail.height()),
            (THUMBNAIL_EDGE, 360)
        );
        let original = image::load_from_memory(&prepared.original).unwrap();
        assert_eq!(
            (original.width(), original.height()),
            (800, 600),
            "still the photo"
        );
    }

    #[test]
    fn a_png_loses_its_text_chunks() {
        let image = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            10,
            10,
            image::Rgba([0, 0, 0, 0]),
        ));
        let png = encode(&image, ImageFormat::Png).unwrap();
        // A tEXt chunk after IHDR (its CRC is not checked by the stripper).
        let text = b"tEXtAuthor\0Ann at home";
        let mut with = png[..33].to_vec();
        with.extend_from_slice(&((text.len() - 4) as u32).to_be_bytes());
        with.extend_from_slice(text);
        with.extend_from_slice(&[0, 0, 0, 0]);
        with.extend_from_slice(&png[33..]);
        let stripped = strip_png_metadata(&with).unwrap();
        assert!(!contains(&stripped, b"Ann at home"));
        assert_eq!(stripped, png);
    }

    /// A WebP in the extended format, with EXIF and XMP chunks after the image.
    fn webp_with_metadata() -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            30,
            20,
            image::Rgb([10, 90, 200]),
        ));
        let simple = encode(&image, ImageFormat::WebP).unwrap();
        let chunk = |kind: &[u8], body: &[u8]| {
            let mut chunk = kind.to_vec();
            chunk.extend_from_slice(&(body.len() as u32).to_le_bytes());
            chunk.extend_from_slice(body);
            if body.len() % 2 == 1 {
                chunk.push(0);
            }
            chunk
        };
        // Flags: EXIF (0x08) and XMP (0x04); the canvas's width and height less one.
        let mut header = vec![0x08 | 0x04, 0, 0, 0];
        header.extend_from_slice(&29u32.to_le_bytes()[..3]);
        header.extend_from_slice(&19u32.to_le_bytes()[..3]);
        let mut body = b"WEBP".to_vec();
        body.extend(chunk(b"VP8X", &header));
        body.extend_from_slice(&simple[12..]);
        body.extend(chunk(b"EXIF", b"MM\0*GPS 59.9139 N 10.7522 E"));
        body.extend(chunk(b"XMP ", b"<x:xmpmeta>Ann at home</x:xmpmeta>"));
        let mut webp = b"RIFF".to_vec();
        webp.extend_from_slice(&(body.len() as u32).to_le_bytes());
        webp.extend(body);
        webp
    }

    #[test]
    fn a_webp_loses_its_exif_and_xmp() {
        let upload = webp_with_metadata();
        assert_eq!(
            image::load_from_memory(&upload).unwrap().width(),
            30,
            "a WebP as cameras and editors write it"
        );
        let prepared = prepare(upload, ImageFormat::WebP).unwrap();
        assert!(!contains(&prepared.original, b"GPS"), "EXIF stripped");
        assert!(
            !contains(&prepared.original, b"Ann at home"),
            "XMP stripped"
        );
        let original = image::load_from_memory(&prepared.original).unwrap();
        assert_eq!((original.width(), original.height()), (30, 20));
        assert_eq!(original.to_rgb8().get_pixel(3, 3).0, [10, 90, 200]);
        assert_eq!(
            original_flags(&prepared.original),
            0,
            "the header no longer says it has EXIF or XMP"
        );
    }

    /// The flags byte of a WebP's VP8X chunk (the first chunk).
    fn original_flags(webp: &[u8]) -> u8 {
        assert_eq!(&webp[12..16], b"VP8X");
        webp[20]
    }

    #[test]
    fn what_does_not_decode_is_not_an_image() {
        assert!(prepare(b"\xff\xd8\xffnot really".to_vec(), ImageFormat::Jpeg).is_none());
        assert!(prepare(b"\x89PNG\r\n\x1a\nbroken".to_vec(), ImageFormat::Png).is_none());
    }
}
