//! The answer of GetObjectAttributes: the attributes asked for, in S3's
//! order, and a page of the parts of a multipart object.

use super::tree::{open_root, push_close, push_leaf};

/// A page of an object's parts: `sizes` are all of them, in order.
pub struct PartsPage<'a> {
    pub sizes: &'a [u64],
    /// (element name such as `ChecksumCRC32`, each part's base64 value).
    pub checksums: Option<(&'a str, &'a [&'a str])>,
    /// Parts numbered up to this one are left out.
    pub marker: u32,
    pub max_parts: u32,
}

/// What one answer holds (`None` or empty: not asked, or not known).
pub struct ObjectAttributes<'a> {
    pub etag: Option<&'a str>,
    /// (element name such as `ChecksumSHA256`, base64 value).
    pub checksums: &'a [(String, &'a str)],
    pub checksum_type: Option<&'a str>,
    pub parts: Option<PartsPage<'a>>,
    pub storage_class: Option<&'a str>,
    pub size: Option<u64>,
}

impl ObjectAttributes<'_> {
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        open_root(&mut out, "GetObjectAttributesResponse");
        if let Some(etag) = self.etag {
            push_leaf(&mut out, "ETag", etag);
        }
        if !self.checksums.is_empty() {
            out.push_str("<Checksum>");
            for (name, value) in self.checksums {
                push_leaf(&mut out, name, value);
            }
            if let Some(kind) = self.checksum_type {
                push_leaf(&mut out, "ChecksumType", kind);
            }
            push_close(&mut out, "Checksum");
        }
        if let Some(parts) = &self.parts {
            parts.push(&mut out);
        }
        if let Some(class) = self.storage_class {
            push_leaf(&mut out, "StorageClass", class);
        }
        if let Some(size) = self.size {
            push_leaf(&mut out, "ObjectSize", &size.to_string());
        }
        push_close(&mut out, "GetObjectAttributesResponse");
        out
    }
}

impl PartsPage<'_> {
    /// `<ObjectParts>`: the count, then the parts after the marker.
    fn push(&self, out: &mut String) {
        out.push_str("<ObjectParts>");
        push_leaf(out, "PartsCount", &self.sizes.len().to_string());
        push_leaf(out, "PartNumberMarker", &self.marker.to_string());
        push_leaf(out, "MaxParts", &self.max_parts.to_string());
        let after = usize::try_from(self.marker).unwrap_or(usize::MAX);
        let page: Vec<(usize, u64)> = self
            .sizes
            .iter()
            .copied()
            .enumerate()
            .map(|(i, size)| (i + 1, size))
            .skip(after)
            .take(self.max_parts as usize)
            .collect();
        let truncated = page.last().is_some_and(|(n, _)| *n < self.sizes.len());
        push_leaf(out, "IsTruncated", if truncated { "true" } else { "false" });
        if let Some((last, _)) = page.last() {
            push_leaf(out, "NextPartNumberMarker", &last.to_string());
        }
        for (number, size) in page {
            out.push_str("<Part>");
            if let Some((name, values)) = self.checksums {
                if let Some(value) = values.get(number - 1) {
                    push_leaf(out, name, value);
                }
            }
            push_leaf(out, "PartNumber", &number.to_string());
            push_leaf(out, "Size", &size.to_string());
            push_close(out, "Part");
        }
        push_close(out, "ObjectParts");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(sizes: &[u64], marker: u32, max_parts: u32) -> String {
        let mut out = String::new();
        PartsPage {
            sizes,
            checksums: Some(("ChecksumCRC32", &["AAAAAQ==", "AAAAAg==", "AAAAAw=="])),
            marker,
            max_parts,
        }
        .push(&mut out);
        out
    }

    #[test]
    fn parts_page_after_the_marker() {
        let out = parts(&[5, 5, 3], 1, 1);
        assert!(out.contains("<PartsCount>3</PartsCount>"), "{out}");
        assert!(out.contains("<IsTruncated>true</IsTruncated>"), "{out}");
        assert!(
            out.contains("<NextPartNumberMarker>2</NextPartNumberMarker>"),
            "{out}"
        );
        assert!(
            out.contains("<Part><ChecksumCRC32>AAAAAg==</ChecksumCRC32><PartNumber>2</PartNumber><Size>5</Size></Part>"),
            "{out}"
        );
        assert!(!out.contains("<PartNumber>3</PartNumber>"), "{out}");
        let last = parts(&[5, 5, 3], 2, 1000);
        assert!(last.contains("<IsTruncated>false</IsTruncated>"), "{last}");
    }

    #[test]
    fn only_what_was_asked_in_order() {
        let checksums = vec![("ChecksumCRC32".to_string(), "AAAAAA==")];
        let xml = ObjectAttributes {
            etag: Some("abc"),
            checksums: &checksums,
            checksum_type: None,
            parts: None,
            storage_class: None,
            size: Some(7),
        }
        .to_xml();
        assert!(
            xml.contains("<ETag>abc</ETag><Checksum><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Checksum><ObjectSize>7</ObjectSize></GetObjectAttributesResponse>"),
            "{xml}"
        );
        assert!(!xml.contains("StorageClass"), "{xml}");
    }
}
