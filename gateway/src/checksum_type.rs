//! S3's checksum types: how the checksum of a multipart object is made
//! from its parts' (`x-amz-checksum-type`). A single PUT's checksum is
//! always FULL_OBJECT.

use crate::checksum::ChecksumAlgorithm;

/// How part checksums make the object's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumType {
    Composite,
    FullObject,
}

impl ChecksumType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumType::Composite => "COMPOSITE",
            ChecksumType::FullObject => "FULL_OBJECT",
        }
    }

    pub fn from_name(name: &str) -> Option<ChecksumType> {
        [ChecksumType::Composite, ChecksumType::FullObject]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The type of a stored object checksum: a composite one ends in `-N`.
    pub fn of_value(value: &str) -> ChecksumType {
        match value.rsplit_once('-') {
            Some((_, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                ChecksumType::Composite
            }
            _ => ChecksumType::FullObject,
        }
    }

    /// S3's default for an algorithm given without a type: CRC64NVME is
    /// only ever FULL_OBJECT, the others COMPOSITE.
    pub fn default_for(algorithm: ChecksumAlgorithm) -> ChecksumType {
        match algorithm {
            ChecksumAlgorithm::Crc64Nvme => ChecksumType::FullObject,
            _ => ChecksumType::Composite,
        }
    }

    pub fn allows(self, algorithm: ChecksumAlgorithm) -> bool {
        match self {
            ChecksumType::Composite => algorithm != ChecksumAlgorithm::Crc64Nvme,
            ChecksumType::FullObject => matches!(
                algorithm,
                ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c | ChecksumAlgorithm::Crc64Nvme
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        for t in [ChecksumType::Composite, ChecksumType::FullObject] {
            assert_eq!(ChecksumType::from_name(t.as_str()), Some(t));
        }
        assert_eq!(ChecksumType::from_name("partial"), None);
        assert_eq!(
            ChecksumType::of_value("AAAAAA==-12"),
            ChecksumType::Composite
        );
        assert_eq!(ChecksumType::of_value("AAAAAA=="), ChecksumType::FullObject);
        assert_eq!(ChecksumType::of_value("a-b-"), ChecksumType::FullObject);
        assert!(!ChecksumType::FullObject.allows(ChecksumAlgorithm::Sha1));
        assert!(!ChecksumType::Composite.allows(ChecksumAlgorithm::Crc64Nvme));
    }
}
