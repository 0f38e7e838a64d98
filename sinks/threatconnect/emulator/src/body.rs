//! Request body reading with a byte cap, gzip decompression and multipart parts.
//!
//! A body larger than the cap is read to its end and discarded beyond the cap, so the client
//! always receives the error response instead of a reset connection, and memory stays bounded
//! by the cap.

use std::convert::Infallible;
use std::io::Read;

use bytes::{Bytes, BytesMut};
use flate2::read::GzDecoder;
use http_body_util::BodyExt;
use hyper::HeaderMap;
use hyper::body::Incoming;

/// A body read up to a cap.
pub struct CappedBody {
    /// The first `cap` bytes at most.
    pub bytes: Bytes,
    /// Length of the whole body in bytes.
    pub total: usize,
}

impl CappedBody {
    pub fn exceeds(&self, limit: usize) -> bool {
        self.total > limit
    }
}

/// Reads a body, keeping at most `cap` bytes.
pub async fn read_capped(mut body: Incoming, cap: usize) -> Result<CappedBody, hyper::Error> {
    let mut bytes = BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        total += data.len();
        let room = cap.saturating_sub(bytes.len());
        bytes.extend_from_slice(&data[..data.len().min(room)]);
    }
    Ok(CappedBody {
        bytes: bytes.freeze(),
        total,
    })
}

/// Returns whether a body is gzip, by `Content-Encoding: gzip` or by the gzip magic bytes.
pub fn is_gzip(headers: &HeaderMap, data: &[u8]) -> bool {
    let declared = headers
        .get(hyper::header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("gzip"));
    declared || data.starts_with(&[0x1f, 0x8b])
}

/// Gzip decompression failure.
#[derive(Debug, thiserror::Error)]
pub enum InflateError {
    #[error("decompressed data is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("invalid gzip data: {0}")]
    Invalid(#[from] std::io::Error),
}

/// Decompresses gzip data, failing once the output passes `limit` bytes.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Bytes, InflateError> {
    let mut output = Vec::new();
    let read_limit = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    GzDecoder::new(data)
        .take(read_limit)
        .read_to_end(&mut output)?;
    if output.len() > limit {
        return Err(InflateError::TooLarge { limit });
    }
    Ok(Bytes::from(output))
}

/// The named parts of a multipart body.
#[derive(Default)]
pub struct Parts {
    pub config: Option<Bytes>,
    pub content: Option<Bytes>,
}

/// Reads the `config` and `content` parts of a `multipart/form-data` body, with or without a
/// `filename=` on each part. Other parts are ignored.
pub async fn multipart_parts(content_type: &str, body: Bytes) -> Result<Parts, multer::Error> {
    let boundary = multer::parse_boundary(content_type)?;
    let stream = futures::stream::once(async move { Ok::<Bytes, Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Parts::default();
    while let Some(field) = multipart.next_field().await? {
        let name = field.name().map(str::to_owned);
        let data = field.bytes().await?;
        match name.as_deref() {
            Some("config") => parts.config = Some(data),
            Some("content") => parts.content = Some(data),
            _ => {}
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gunzip_within_limit() {
        let packed = gzip(b"{\"indicator\":[]}");
        assert!(is_gzip(&HeaderMap::new(), &packed));
        assert_eq!(&gunzip(&packed, 100).unwrap()[..], b"{\"indicator\":[]}");
    }

    #[test]
    fn gunzip_stops_at_limit() {
        let packed = gzip(&vec![b'x'; 10_000]);
        let error = gunzip(&packed, 9_999).unwrap_err();
        assert!(matches!(error, InflateError::TooLarge { limit: 9_999 }));
    }

    #[tokio::test]
    async fn multipart_reads_named_parts() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"config\"; filename=\"config\"\r\n\r\n\
                    {\"owner\":\"A\"}\r\n--b\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\n\
                    {\"indicator\":[]}\r\n--b--\r\n";
        let parts = multipart_parts("multipart/form-data; boundary=b", Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(&parts.config.unwrap()[..], b"{\"owner\":\"A\"}");
        assert_eq!(&parts.content.unwrap()[..], b"{\"indicator\":[]}");
    }
}
