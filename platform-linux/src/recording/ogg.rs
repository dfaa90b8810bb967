//! Ogg pages (RFC 3533): a checked view to read them back, a builder that
//! gathers whole packets into one page and emits it with its CRC.
//!
//! ```text
//!  0 "OggS"  4 version 0  5 header type (continued / BOS / EOS)
//!  6 granule position, i64 LE  14 serial, u32 LE  18 page sequence, u32 LE
//! 22 CRC-32, u32 LE  26 segment count n  27 n lacing values  27+n body
//! ```
//!
//! The builder never splits a packet across pages: every page it emits
//! ends on a packet boundary, so the granule position of each is exact
//! and a file cut after any page is a valid stream up to there.

use core::ops::Range;

/// Bytes before the lacing values.
pub(super) const HEADER_LEN: usize = 27;
/// Most lacing values (segments) in one page.
pub(super) const SEGMENTS_MAX: usize = 255;
/// The longest page: header, 255 lacing values, 255 × 255 body bytes.
pub(super) const PAGE_LEN_MAX: usize = HEADER_LEN + SEGMENTS_MAX + SEGMENTS_MAX * 255;

/// Header type bit: the page starts with the rest of a packet.
pub(super) const FLAG_CONTINUED: u8 = 0x01;
/// Header type bit: the first page of the stream.
pub(super) const FLAG_BOS: u8 = 0x02;
/// Header type bit: the last page of the stream.
pub(super) const FLAG_EOS: u8 = 0x04;

/// Where the segment count sits in the header: the lacing values follow.
pub(super) const SEGMENTS_AT: usize = field::SEGMENTS;

mod field {
    use core::ops::Range;

    pub(super) const MAGIC: Range<usize> = 0..4;
    pub(super) const VERSION: usize = 4;
    pub(super) const HEADER_TYPE: usize = 5;
    pub(super) const GRANULE: Range<usize> = 6..14;
    pub(super) const SERIAL: Range<usize> = 14..18;
    pub(super) const SEQUENCE: Range<usize> = 18..22;
    pub(super) const CRC: Range<usize> = 22..26;
    pub(super) const SEGMENTS: usize = 26;
}

const _: () = assert!(field::SEGMENTS + 1 == HEADER_LEN);
const _: () = assert!(field::CRC.end == field::SEGMENTS);

const MAGIC: &[u8; 4] = b"OggS";

/// The CRC-32 of RFC 3533 §6: polynomial 0x04c11db7, MSB first, initial
/// value 0, no final XOR, over the whole page with its CRC field zeroed.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000_0000 != 0 {
                (r << 1) ^ 0x04c1_1db7
            } else {
                r << 1
            };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
};

/// Continues an Ogg CRC over `bytes` (start from 0).
pub(super) fn crc_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc = (crc << 8) ^ CRC_TABLE[((crc >> 24) as u8 ^ b) as usize];
    }
    crc
}

/// The CRC of a whole page, its CRC field taken as zero.
fn page_crc(page: &[u8]) -> u32 {
    let crc = crc_update(0, &page[..field::CRC.start]);
    let crc = crc_update(crc, &[0; 4]);
    crc_update(crc, &page[field::CRC.end..])
}

/// Why bytes are not a whole Ogg page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PageError {
    /// The buffer ends before the page does (a file cut mid-page).
    Truncated,
    /// No capture pattern `OggS`, or a version other than 0.
    NotOgg,
}

/// A view of one Ogg page at the start of a buffer (which may go on past
/// it). Once [`new_checked`](Page::new_checked) has passed, no accessor
/// can panic.
#[derive(Debug, Clone, Copy)]
pub(super) struct Page<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Page<T> {
    /// Checks the capture pattern, the version and that the header, the
    /// lacing values and the body all lie in `buffer`. The CRC is checked
    /// separately ([`crc_ok`](Page::crc_ok)).
    pub(super) fn new_checked(buffer: T) -> Result<Page<T>, PageError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(if b.len() < 4 || &b[field::MAGIC] == MAGIC {
                PageError::Truncated
            } else {
                PageError::NotOgg
            });
        }
        if &b[field::MAGIC] != MAGIC || b[field::VERSION] != 0 {
            return Err(PageError::NotOgg);
        }
        let segments = usize::from(b[field::SEGMENTS]);
        if b.len() < HEADER_LEN + segments {
            return Err(PageError::Truncated);
        }
        let body_len: usize = b[HEADER_LEN..HEADER_LEN + segments]
            .iter()
            .map(|&l| usize::from(l))
            .sum();
        if b.len() < HEADER_LEN + segments + body_len {
            return Err(PageError::Truncated);
        }
        Ok(Page { buffer })
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn lacing_range(&self) -> Range<usize> {
        HEADER_LEN..HEADER_LEN + usize::from(self.bytes()[field::SEGMENTS])
    }

    /// The lacing values.
    pub(super) fn lacing(&self) -> &[u8] {
        &self.bytes()[self.lacing_range()]
    }

    /// Bytes of the page, header included.
    pub(super) fn total_len(&self) -> usize {
        let body: usize = self.lacing().iter().map(|&l| usize::from(l)).sum();
        self.lacing_range().end + body
    }

    /// The page's bytes (not what follows it in the buffer).
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes()[..self.total_len()]
    }

    /// The packet data after the lacing values.
    pub(super) fn body(&self) -> &[u8] {
        &self.bytes()[self.lacing_range().end..self.total_len()]
    }

    /// The header type bits (`FLAG_*`).
    pub(super) fn header_type(&self) -> u8 {
        self.bytes()[field::HEADER_TYPE]
    }

    /// The granule position (−1: no packet ends on this page).
    pub(super) fn granule(&self) -> i64 {
        i64::from_le_bytes(self.bytes()[field::GRANULE].try_into().expect("8 bytes"))
    }

    /// The stream serial number.
    pub(super) fn serial(&self) -> u32 {
        u32::from_le_bytes(self.bytes()[field::SERIAL].try_into().expect("4 bytes"))
    }

    /// The page sequence number.
    pub(super) fn sequence(&self) -> u32 {
        u32::from_le_bytes(self.bytes()[field::SEQUENCE].try_into().expect("4 bytes"))
    }

    /// Whether the stored CRC is that of the page's bytes.
    pub(super) fn crc_ok(&self) -> bool {
        let stored = u32::from_le_bytes(self.bytes()[field::CRC].try_into().expect("4 bytes"));
        stored == page_crc(self.as_bytes())
    }

    /// Whether the page's last packet ends on it (it does not go on to the
    /// next page). An empty page ends nothing.
    pub(super) fn ends_packet(&self) -> bool {
        self.lacing().last().is_some_and(|&l| l < 255)
    }

    /// The packets that end on this page, in order (the first may be the
    /// tail of one begun on an earlier page; a packet still going on at
    /// the end of the page is not among them).
    pub(super) fn packets(&self) -> impl Iterator<Item = &[u8]> {
        let body = self.body();
        let mut start = 0;
        let mut end = 0;
        self.lacing().iter().filter_map(move |&l| {
            end += usize::from(l);
            (l < 255).then(|| {
                let packet = &body[start..end];
                start = end;
                packet
            })
        })
    }
}

/// Marks the whole page at the start of `page` as the last of its stream
/// and updates its CRC (recovery of a stream cut short).
pub(super) fn set_eos(page: &mut [u8]) {
    page[field::HEADER_TYPE] |= FLAG_EOS;
    let crc = page_crc(page);
    page[field::CRC].copy_from_slice(&crc.to_le_bytes());
}

/// The identity of one page: where it sits in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PageHeader {
    /// `FLAG_*` bits.
    pub(super) header_type: u8,
    /// Granule position; −1 when no packet ends on the page.
    pub(super) granule: i64,
    /// Stream serial number.
    pub(super) serial: u32,
    /// Page sequence number (0 for the first page).
    pub(super) sequence: u32,
}

/// Whole packets gathered for one page. Capacity for the longest page is
/// allocated once; the builder is reused page after page.
#[derive(Debug)]
pub(super) struct PageBuilder {
    lacing: Vec<u8>,
    body: Vec<u8>,
    packets: usize,
}

impl PageBuilder {
    /// An empty page with room for the longest.
    pub(super) fn new() -> PageBuilder {
        PageBuilder {
            lacing: Vec::with_capacity(SEGMENTS_MAX),
            body: Vec::with_capacity(SEGMENTS_MAX * 255),
            packets: 0,
        }
    }

    /// Lacing values a packet of `len` bytes takes: one per 255 bytes and
    /// a last one under 255 (0 when `len` is a multiple of 255).
    pub(super) const fn segments_for(len: usize) -> usize {
        len / 255 + 1
    }

    /// Packets on the page so far.
    pub(super) fn packets(&self) -> usize {
        self.packets
    }

    /// Whether a packet of `len` bytes still fits on this page.
    pub(super) fn fits(&self, len: usize) -> bool {
        self.lacing.len() + Self::segments_for(len) <= SEGMENTS_MAX
    }

    /// Adds a whole packet.
    ///
    /// # Panics
    ///
    /// When it does not [`fit`](PageBuilder::fits): the caller checks.
    pub(super) fn push(&mut self, packet: &[u8]) {
        assert!(self.fits(packet.len()), "the caller checks fits()");
        self.lacing
            .extend(core::iter::repeat_n(255, packet.len() / 255));
        self.lacing.push((packet.len() % 255) as u8);
        self.body.extend_from_slice(packet);
        self.packets += 1;
    }

    /// Appends the page to `out` (with its CRC) and empties the builder.
    pub(super) fn emit(&mut self, header: PageHeader, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(MAGIC);
        out.push(0);
        out.push(header.header_type);
        out.extend_from_slice(&header.granule.to_le_bytes());
        out.extend_from_slice(&header.serial.to_le_bytes());
        out.extend_from_slice(&header.sequence.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.push(u8::try_from(self.lacing.len()).expect("at most SEGMENTS_MAX by push"));
        out.extend_from_slice(&self.lacing);
        out.extend_from_slice(&self.body);
        let page = &mut out[start..];
        let crc = page_crc(page);
        page[field::CRC].copy_from_slice(&crc.to_le_bytes());
        debug_assert!(
            Page::new_checked(&*page).is_ok_and(|p| p.crc_ok() && p.total_len() == page.len()),
            "an emitted page reads back whole"
        );
        self.lacing.clear();
        self.body.clear();
        self.packets = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_the_ogg_variant() {
        // CRC-32/CKSUM (same polynomial, initial 0) has check value
        // 0x765e7680 after its final XOR; Ogg's has none.
        assert_eq!(crc_update(0, b"123456789"), !0x765e_7680);
        assert_eq!(crc_update(0, b""), 0);
    }

    /// A BOS page of stream 0x01020304 holding one 8-byte packet; the CRC
    /// was computed bit by bit, apart from the table.
    #[test]
    fn emitted_page_has_the_rfc_3533_layout() {
        let mut b = PageBuilder::new();
        b.push(b"OpusHead");
        let mut out = Vec::new();
        b.emit(
            PageHeader {
                header_type: FLAG_BOS,
                granule: 0,
                serial: 0x0102_0304,
                sequence: 7,
            },
            &mut out,
        );
        #[rustfmt::skip]
        let expected_head = [
            b'O', b'g', b'g', b'S', 0, FLAG_BOS,
            0, 0, 0, 0, 0, 0, 0, 0,   // granule
            4, 3, 2, 1,               // serial
            7, 0, 0, 0,               // sequence
        ];
        assert_eq!(out[..22], expected_head);
        assert_eq!(out[22..26], 0x029d_81b2u32.to_le_bytes(), "CRC");
        assert_eq!(out[26], 1, "one segment");
        assert_eq!(out[27], 8, "lacing value of an 8-byte packet");
        assert_eq!(&out[28..], b"OpusHead");
        let page = Page::new_checked(&out[..]).unwrap();
        assert!(page.crc_ok());
        assert_eq!(page.sequence(), 7);
        assert_eq!(page.serial(), 0x0102_0304);
        assert_eq!(page.granule(), 0);
        assert_eq!(page.header_type(), FLAG_BOS);
    }

    #[test]
    fn packets_of_255_bytes_take_a_zero_lacing_value() {
        let mut b = PageBuilder::new();
        let long = [7u8; 510];
        let short = [9u8; 3];
        b.push(&long);
        b.push(&short);
        let mut out = Vec::new();
        let header = PageHeader {
            header_type: 0,
            granule: 1920,
            serial: 1,
            sequence: 2,
        };
        b.emit(header, &mut out);
        let page = Page::new_checked(&out[..]).unwrap();
        assert_eq!(page.lacing(), [255, 255, 0, 3]);
        let packets: Vec<&[u8]> = page.packets().collect();
        assert_eq!(packets, [&long[..], &short[..]]);
        assert!(page.ends_packet());
        assert_eq!(b.packets(), 0, "emptied by emit");
    }

    #[test]
    fn a_page_holds_at_most_255_segments() {
        let mut b = PageBuilder::new();
        let packet = [0u8; 300]; // 2 segments
        for _ in 0..127 {
            assert!(b.fits(packet.len()));
            b.push(&packet);
        }
        assert!(!b.fits(packet.len()), "254 used, 2 needed");
        assert!(b.fits(100));
    }

    #[test]
    fn a_cut_or_changed_page_is_noticed() {
        let mut b = PageBuilder::new();
        b.push(&[1, 2, 3, 4, 5]);
        let mut out = Vec::new();
        let header = PageHeader {
            header_type: 0,
            granule: 960,
            serial: 5,
            sequence: 3,
        };
        b.emit(header, &mut out);
        for cut in 0..out.len() {
            assert_eq!(
                Page::new_checked(&out[..cut]).err(),
                Some(PageError::Truncated),
                "cut at {cut}"
            );
        }
        let mut flipped = out.clone();
        flipped[30] ^= 0x10;
        assert!(!Page::new_checked(&flipped[..]).unwrap().crc_ok());
        assert_eq!(
            Page::new_checked(&b"RIFF\0\0\0\0WAVEfmt \0\0\0\0\0\0\0\0\0\0\0"[..]).err(),
            Some(PageError::NotOgg)
        );
        set_eos(&mut out);
        let page = Page::new_checked(&out[..]).unwrap();
        assert!(page.crc_ok(), "set_eos updates the CRC");
        assert_eq!(page.header_type(), FLAG_EOS);
    }
}
