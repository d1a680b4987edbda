//! Thumbnails for the timeline and the queue: made once when a photo or a
//! sticker arrives, at most 320 px on the long side, so the page never
//! carries a customer's 5 MB photo to show a preview.

use image::{ImageFormat, ImageReader, Limits};
use std::io::Cursor;

const SIDE: u32 = 320;

/// A JPEG (photos) or PNG (stickers, which have transparency) thumbnail, or
/// `None` when the bytes do not decode as an image within the limits.
pub fn make(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    // A decompression bomb stops at the limits instead of taking the memory.
    let mut limits = Limits::default();
    limits.max_image_width = Some(12_000);
    limits.max_image_height = Some(12_000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let image = reader.decode().ok()?;
    let small = image.thumbnail(SIDE, SIDE);
    let mut out = Cursor::new(Vec::new());
    if small.color().has_alpha() {
        small.write_to(&mut out, ImageFormat::Png).ok()?;
    } else {
        small
            .into_rgb8()
            .write_to(&mut out, ImageFormat::Jpeg)
            .ok()?;
    }
    Some(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_photo_becomes_a_small_jpeg() {
        let photo = image::RgbImage::from_fn(1600, 1200, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut png = Cursor::new(Vec::new());
        photo.write_to(&mut png, ImageFormat::Png).unwrap();
        let thumb = make(png.get_ref()).expect("a thumbnail");
        let decoded = image::load_from_memory(&thumb).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 240));
        assert_eq!(
            infer::get(&thumb).map(|t| t.mime_type()),
            Some("image/jpeg")
        );
    }

    #[test]
    fn bytes_that_are_not_an_image_make_no_thumbnail() {
        assert!(make(b"%PDF-1.7 not an image").is_none());
    }
}
