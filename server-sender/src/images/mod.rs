//! What an uploaded image becomes: its size in pixels, a thumbnail, and the original
//! without its metadata ([`metadata`]: EXIF carries where a photo was taken, and with
//! what).
//!
//! Decoding is where a small upload can cost a lot of memory (a 150 KB PNG can claim a
//! canvas of 40 million pixels), so it is bounded three ways: an image over
//! [`MAX_PIXELS`] is not decoded at all (it is kept as a plain file, shown as a card);
//! the decoder may allocate at most [`MAX_DECODE_BYTES`]; and at most [`AT_ONCE`]
//! images are decoded at a time in the whole process. The most image work can hold is
//! therefore `AT_ONCE × MAX_DECODE_BYTES`, whoever uploads what. Turning a photo as
//! its EXIF says is done to its thumbnail; the original keeps the turn as a minimal
//! EXIF of its own, for the browser to apply.

mod metadata;

use std::io::Cursor;

use chat_types::files::THUMBNAIL_EDGE;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use tokio::sync::Semaphore;

/// An image as it is kept.
pub(crate) struct Prepared {
    /// The bytes to keep: the upload without metadata.
    pub original: Vec<u8>,
    /// Its size as it shows (turned as its EXIF says).
    pub width: u32,
    pub height: u32,
    /// A JPEG (or a PNG, for images with transparency) at most [`THUMBNAIL_EDGE`] wide
    /// and high, turned as the image shows.
    pub thumbnail: Vec<u8>,
}

/// The most pixels an image may have to be decoded for a thumbnail: 24 million, a
/// 24-megapixel camera's photo (phones take 12). Bigger images are kept as files.
pub(crate) const MAX_PIXELS: u64 = 24_000_000;
/// The most one decoding may allocate: the largest image at 4 bytes a pixel (an image
/// with more bytes a pixel, such as a 16-bit PNG, must be smaller).
pub(crate) const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 4;
/// The most images decoded at once in this process (every instance in it shares them).
pub(crate) const AT_ONCE: usize = 2;

static DECODING: Semaphore = Semaphore::const_new(AT_ONCE);

/// [`prepare`]s `bytes` as an image of `format` off the async threads, waiting for one
/// of the [`AT_ONCE`] places; gives the bytes back with the outcome.
pub(crate) async fn prepare_in_turn(
    bytes: Vec<u8>,
    format: ImageFormat,
) -> Option<(Vec<u8>, Option<Prepared>)> {
    in_turn(move || {
        let prepared = prepare(&bytes, format);
        (bytes, prepared)
    })
    .await
}

/// Runs `work` on a blocking thread once one of the [`AT_ONCE`] places is free.
async fn in_turn<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let _place = DECODING.acquire().await.ok()?;
    tokio::task::spawn_blocking(work).await.ok()
}

/// Reads an image of `format`; `None` when it does not decode or is too big to (then
/// it is kept as a plain file, shown as a card).
pub(crate) fn prepare(bytes: &[u8], format: ImageFormat) -> Option<Prepared> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().ok()?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS || decoder.total_bytes() > MAX_DECODE_BYTES
    {
        return None;
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).ok()?;
    let mut thumbnail = image.thumbnail(THUMBNAIL_EDGE, THUMBNAIL_EDGE);
    drop(image);
    thumbnail.apply_orientation(orientation);
    let thumbnail = if thumbnail.color().has_alpha() {
        encode(&thumbnail, ImageFormat::Png)?
    } else {
        encode(&thumbnail, ImageFormat::Jpeg)?
    };
    let original = match format {
        ImageFormat::Jpeg => metadata::jpeg(bytes, orientation)?,
        ImageFormat::Png => metadata::png(bytes, orientation)?,
        ImageFormat::WebP => metadata::webp(bytes, orientation)?,
        ImageFormat::Gif => metadata::gif(bytes)?,
        _ => return None,
    };
    let turned = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let (width, height) = if turned {
        (height, width)
    } else {
        (width, height)
    };
    Some(Prepared {
        original,
        width,
        height,
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
        let prepared = prepare(&upload, ImageFormat::Jpeg).unwrap();
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
        let stripped = metadata::png(&with, Orientation::NoTransforms).unwrap();
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
        let prepared = prepare(&upload, ImageFormat::WebP).unwrap();
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
        assert!(prepare(b"\xff\xd8\xffnot really", ImageFormat::Jpeg).is_none());
        assert!(prepare(b"\x89PNG\r\n\x1a\nbroken", ImageFormat::Png).is_none());
    }

    /// A PNG of `width` × `height` black pixels (it compresses to almost nothing),
    /// with an `eXIf` chunk turning it a quarter.
    fn black_png_turned(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::ImageLuma8(image::GrayImage::new(width, height));
        let png = encode(&image, ImageFormat::Png).unwrap();
        let exif = metadata::tests::orientation_exif(Orientation::Rotate90);
        let mut with = png[..33].to_vec();
        with.extend_from_slice(&metadata::tests::png_chunk(b"eXIf", &exif));
        with.extend_from_slice(&png[33..]);
        with
    }

    /// The attack: a 150 KB PNG claiming 6,300 × 6,300 pixels, turned by its EXIF, was
    /// decoded in full (40 million pixels) and then turned, a second full-size copy.
    #[test]
    fn an_image_over_the_pixel_budget_is_not_decoded() {
        let upload = black_png_turned(6300, 6300);
        assert!(upload.len() < 300_000, "{} bytes", upload.len());
        assert!(prepare(&upload, ImageFormat::Png).is_none());
        // One within the budget is.
        let upload = black_png_turned(600, 400);
        let prepared = prepare(&upload, ImageFormat::Png).unwrap();
        assert_eq!(
            (prepared.width, prepared.height),
            (400, 600),
            "shown turned"
        );
    }

    #[test]
    fn the_budget_holds_for_formats_with_more_bytes_a_pixel() {
        // 16-bit RGBA: 8 bytes a pixel, so fewer pixels fit the decoder's allocation.
        let side = ((MAX_DECODE_BYTES / 8) as f64).sqrt() as u32 + 10;
        assert!(u64::from(side) * u64::from(side) <= MAX_PIXELS);
        let image = DynamicImage::ImageRgba16(image::ImageBuffer::new(side, side));
        let png = encode(&image, ImageFormat::Png).unwrap();
        assert!(prepare(&png, ImageFormat::Png).is_none());
    }

    #[test]
    fn a_turned_photo_gets_a_turned_thumbnail_and_keeps_only_its_turn() {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            800,
            600,
            image::Rgb([20, 140, 40]),
        ));
        let plain = encode(&image, ImageFormat::Jpeg).unwrap();
        let mut exif = b"Exif\0\0".to_vec();
        exif.extend(metadata::tests::orientation_exif(Orientation::Rotate90));
        exif.extend_from_slice(b"GPS 59.9139 N 10.7522 E");
        let mut upload = plain[..2].to_vec();
        upload.extend_from_slice(&[0xFF, 0xE1]);
        upload.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        upload.extend_from_slice(&exif);
        upload.extend_from_slice(&plain[2..]);

        let prepared = prepare(&upload, ImageFormat::Jpeg).unwrap();
        assert_eq!((prepared.width, prepared.height), (600, 800));
        let thumbnail = image::load_from_memory(&prepared.thumbnail).unwrap();
        assert_eq!(
            (thumbnail.width(), thumbnail.height()),
            (360, THUMBNAIL_EDGE)
        );
        assert!(!contains(&prepared.original, b"GPS"));
        // The original is the upload's picture, not a re-encoded copy, and says how to
        // turn it.
        let mut decoder =
            ImageReader::with_format(Cursor::new(&prepared.original), ImageFormat::Jpeg)
                .into_decoder()
                .unwrap();
        assert_eq!(decoder.dimensions(), (800, 600));
        assert_eq!(decoder.orientation().unwrap(), Orientation::Rotate90);
        assert!(contains(
            &upload,
            &prepared.original[prepared.original.len() - 200..]
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_a_few_images_are_decoded_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NOW: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        let work = (0..4 * AT_ONCE).map(|_| {
            tokio::spawn(in_turn(|| {
                let now = NOW.fetch_add(1, Ordering::SeqCst) + 1;
                MOST.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(30));
                NOW.fetch_sub(1, Ordering::SeqCst);
            }))
        });
        for done in futures::future::join_all(work).await {
            done.unwrap().unwrap();
        }
        assert_eq!(MOST.load(Ordering::SeqCst), AT_ONCE);
    }
}
