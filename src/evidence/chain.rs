//! The report's chain: every row ends with the SHA-256 of the previous row's chain (as its 64
//! ASCII hex characters) followed by the row's own bytes as written, up to the chain value.
//!
//! The bytes hashed are the bytes the writer already produced for the row, taken from its buffer
//! before the chain is appended: no second serialization, and nothing a reader has to
//! reconstruct. A checker needs a SHA-256 tool and the rule below, nothing of this crate:
//! - CSV: `chain` is the last column; a record's hashed bytes run from its first byte up to and
//!   including the comma before the chain cell. The first row's "previous chain" is the SHA-256
//!   (hex) of the header line, its newline included.
//! - JSONL: `"chain"` is the last key; a line's hashed bytes run up to and excluding
//!   `,"chain":`. The first line's "previous chain" is 64 `0` characters.

use std::fmt;

use sha2::{Digest, Sha256};

/// One SHA-256 block.
type Block = sha2::digest::generic_array::GenericArray<u8, sha2::digest::consts::U64>;

/// Blocks [`Link::next`] lays out on the stack: rows of up to 439 bytes, which is all of them
/// but those with a long message.
const MAX_BLOCKS: usize = 8;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// SHA-256 of `prev` then `row`, laid out padded in the first `blocks` of `N` blocks on the
/// stack (`blocks` ≤ `N`: the caller counted them) and compressed with one call.
fn digest_padded<const N: usize>(prev: &[u8], row: &[u8], blocks: usize) -> [u8; 32] {
    let len = prev.len() + row.len();
    let mut message = [Block::default(); N];
    let message = &mut message[..blocks];
    put(message, 0, prev);
    put(message, prev.len(), row);
    put(message, len, &[0x80]);
    let bits = (len as u64) * 8;
    put(message, blocks * 64 - 8, &bits.to_be_bytes());
    let mut state = SHA256_H0;
    sha2::compress256(&mut state, message);
    let mut digest = [0u8; 32];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// Copies `bytes` into `blocks` from byte `at` of their concatenation.
fn put(blocks: &mut [Block], mut at: usize, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let (block, offset) = (at / 64, at % 64);
        let n = bytes.len().min(64 - offset);
        blocks[block][offset..offset + n].copy_from_slice(&bytes[..n]);
        bytes = &bytes[n..];
        at += n;
    }
}

/// A chain value as written: 64 lowercase hexadecimal ASCII characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Link([u8; Link::LEN]);

impl Link {
    /// Characters in a chain value.
    pub const LEN: usize = 64;

    /// The "previous chain" of a JSONL report's first line: 64 `0` characters.
    pub const ZERO: Link = Link([b'0'; Link::LEN]);

    /// The "previous chain" of a CSV report's first row: the SHA-256 of the header line's bytes,
    /// its newline included.
    pub fn genesis_csv(header_line: &[u8]) -> Link {
        Link::of_digest(&Sha256::digest(header_line))
    }

    /// The chain of a row whose bytes up to the chain value are `row`, after `self`.
    ///
    /// The message (this chain, then the row) is laid out padded in blocks on the stack and
    /// compressed with one call: the buffered hasher copied the row into its buffer and made
    /// three calls, each loading and storing the state, which with the output's conversion was
    /// a quarter of the report thread's time (perf, a million-row dry run). Rows too long for
    /// eight blocks go through the buffered hasher.
    pub fn next(&self, row: &[u8]) -> Link {
        let len = Link::LEN + row.len();
        let blocks = (len + 9).div_ceil(64);
        if blocks > MAX_BLOCKS {
            let mut h = Sha256::new();
            h.update(self.0);
            h.update(row);
            return Link::of_digest(&h.finalize());
        }
        // Only as many zeroed blocks as a short row needs: zeroing eight was a tenth of a link.
        let digest = if blocks <= 4 {
            digest_padded::<4>(&self.0, row, blocks)
        } else {
            digest_padded::<MAX_BLOCKS>(&self.0, row, blocks)
        };
        Link::of_digest(&digest)
    }

    /// Reads a chain value: exactly 64 lowercase hexadecimal characters, as the writer writes
    /// them (an uppercase or short value is not one, so an edited cell cannot pass for it).
    pub fn parse(text: &[u8]) -> Option<Link> {
        let bytes: [u8; Link::LEN] = text.try_into().ok()?;
        bytes
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .then_some(Link(bytes))
    }

    /// The value's characters, for writing it into a row.
    pub fn as_bytes(&self) -> &[u8; Link::LEN] {
        &self.0
    }

    /// The value as text, for messages, the summary and the run log.
    pub fn as_str(&self) -> &str {
        // Only ever built from hex digits (`of_digest`, `parse`, `ZERO`): ASCII, so UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    fn of_digest(digest: &[u8]) -> Link {
        // Nibbles first, then each made a digit in one step: loops over whole arrays, which
        // the compiler vectorizes, where a table lookup and a byte store per digit were half
        // of a link's own time (perf annotate of a million-row dry run).
        let mut out = [0u8; Link::LEN];
        for (pair, byte) in out.chunks_exact_mut(2).zip(digest) {
            pair[0] = byte >> 4;
            pair[1] = byte & 0x0f;
        }
        for c in &mut out {
            *c += if *c < 10 { b'0' } else { b'a' - 10 };
        }
        Link(out)
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Link({})", self.as_str())
    }
}

impl serde::Serialize for Link {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Link {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Link, D::Error> {
        let text = String::deserialize(d)?;
        Link::parse(text.as_bytes()).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "\"{text}\" is not a chain value (64 lowercase hex characters)"
            ))
        })
    }
}

/// SHA-256 of a whole stream, as lowercase hex: the run log's digest of each input file.
#[derive(Default)]
pub struct StreamDigest(Sha256);

impl StreamDigest {
    /// Adds bytes read from the stream.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything added, in hex (`sha256sum`'s spelling).
    pub fn finish(self) -> String {
        Link::of_digest(&self.0.finalize()).as_str().to_owned()
    }
}

/// Where a CSV record's chain is: the record (without its line end) ends with `,` and the 64
/// characters of a chain value. Returns the hashed bytes (up to and including that comma) and the
/// chain; `None` if the record does not end that way.
pub fn split_csv(record: &[u8]) -> Option<(&[u8], Link)> {
    let cut = record.len().checked_sub(Link::LEN)?;
    let (hashed, chain) = record.split_at(cut);
    (hashed.last() == Some(&b',')).then_some(())?;
    Some((hashed, Link::parse(chain)?))
}

/// What comes between a JSONL row's hashed bytes and its chain value.
pub const JSONL_KEY: &[u8] = b",\"chain\":\"";

/// Where a JSONL line's chain is: the line (without its newline) ends with
/// `,"chain":"<64 hex>"}`. Returns the hashed bytes (the line up to `,"chain":`) and the chain;
/// `None` if the line does not end that way.
pub fn split_jsonl(line: &[u8]) -> Option<(&[u8], Link)> {
    let body = line.strip_suffix(b"\"}")?;
    let cut = body.len().checked_sub(Link::LEN)?;
    let (head, chain) = body.split_at(cut);
    let hashed = head.strip_suffix(JSONL_KEY)?;
    Some((hashed, Link::parse(chain)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link is SHA-256 of the previous chain and the row, as the buffered hasher computes it,
    /// for every row length across the block boundaries and past the blocks laid out on the
    /// stack.
    #[test]
    fn next_is_sha256_of_the_chain_then_the_row() {
        let prev = Link::of_digest(&Sha256::digest(b"header\n"));
        for n in 0..=(MAX_BLOCKS * 64 + 70) {
            let row: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
            let mut h = Sha256::new();
            h.update(prev.as_bytes());
            h.update(&row);
            assert_eq!(
                prev.next(&row),
                Link::of_digest(&h.finalize()),
                "a row of {n} bytes"
            );
        }
    }

    #[test]
    fn known_digests() {
        // sha256("") and sha256("abc"), from FIPS 180-2.
        assert_eq!(
            Link::genesis_csv(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut d = StreamDigest::default();
        d.update(b"a");
        d.update(b"bc");
        assert_eq!(
            d.finish(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // sha256("0" * 64 + "abc"), from `printf '%064dabc' 0 | sha256sum`.
        assert_eq!(
            Link::ZERO.next(b"abc").as_str(),
            "b64374d04ef9c4f39fddb1e0d6be38a0130f6c057fc0f4ee467ea0e18bc758f1"
        );
    }

    #[test]
    fn parse_takes_only_lowercase_hex_of_the_right_length() {
        let ok = Link::ZERO.next(b"x");
        assert_eq!(Link::parse(ok.as_bytes()), Some(ok));
        assert_eq!(Link::parse(ok.as_str().to_uppercase().as_bytes()), None);
        assert_eq!(Link::parse(&ok.as_bytes()[1..]), None);
        assert_eq!(Link::parse(b""), None);
    }

    #[test]
    fn splits_find_the_hashed_bytes_and_the_chain() {
        let c = Link::ZERO.next(b"row");
        let csv = format!("a@x.com,revoked,{c}");
        let (hashed, got) = split_csv(csv.as_bytes()).unwrap();
        assert_eq!((hashed, got), (&b"a@x.com,revoked,"[..], c));
        assert_eq!(split_csv(&csv.as_bytes()[..csv.len() - 1]), None);
        assert_eq!(split_csv(c.as_bytes()), None, "no comma before it");

        let json = format!("{{\"user\":\"a\",\"chain\":\"{c}\"}}");
        let (hashed, got) = split_jsonl(json.as_bytes()).unwrap();
        assert_eq!((hashed, got), (&b"{\"user\":\"a\""[..], c));
        assert_eq!(split_jsonl(b"{\"user\":\"a\"}"), None);
        let spaced = format!("{{\"user\":\"a\", \"chain\":\"{c}\"}}");
        assert_eq!(split_jsonl(spaced.as_bytes()), None);
    }
}
