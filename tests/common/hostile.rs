//! Hostile audio, made byte by byte: files whose headers lie about their rate, channels, sample
//! width or length, and small compressed files that decode to hours. Used by the command-line
//! and service tests (tests/hostile_audio.rs, tests/serve.rs) and, through `header_fields`, by
//! the structure-aware header fuzzer (tests/audio_header_fuzz.rs).
#![allow(dead_code)]

/// A WAV header's numeric fields, as written (nothing derived or checked).
#[derive(Debug, Clone, Copy)]
pub struct WavHeader {
    pub tag: u16,
    pub channels: u16,
    pub rate: u32,
    pub bits: u16,
    /// `None`: what the rest implies.
    pub byte_rate: Option<u32>,
    pub block_align: Option<u16>,
    /// `None`: the data's real length.
    pub data_len: Option<u32>,
}

impl WavHeader {
    /// 16-bit PCM at `rate` with `channels`.
    pub fn pcm16(rate: u32, channels: u16) -> WavHeader {
        WavHeader {
            tag: 1,
            channels,
            rate,
            bits: 16,
            byte_rate: None,
            block_align: None,
            data_len: None,
        }
    }
}

/// A canonical 44-byte-header WAV file holding `data`.
pub fn wav(h: &WavHeader, data: &[u8]) -> Vec<u8> {
    let align = h
        .block_align
        .unwrap_or_else(|| h.channels.wrapping_mul(h.bits.div_ceil(8)));
    let byte_rate = h
        .byte_rate
        .unwrap_or_else(|| h.rate.wrapping_mul(u32::from(align)));
    let data_len = h.data_len.unwrap_or(data.len() as u32);
    let mut b = Vec::with_capacity(44 + data.len());
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&h.tag.to_le_bytes());
    b.extend_from_slice(&h.channels.to_le_bytes());
    b.extend_from_slice(&h.rate.to_le_bytes());
    b.extend_from_slice(&byte_rate.to_le_bytes());
    b.extend_from_slice(&align.to_le_bytes());
    b.extend_from_slice(&h.bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    b.extend_from_slice(data);
    b
}

/// 16-bit mono WAV of a quiet 440 Hz tone (a real recording's stand-in).
pub fn wav_tone(rate: u32, seconds: f64) -> Vec<u8> {
    let n = (f64::from(rate) * seconds) as usize;
    let data: Vec<u8> = (0..n)
        .flat_map(|i| {
            let s = (2.0 * std::f64::consts::PI * 440.0 * i as f64 / f64::from(rate)).sin();
            ((s * 3000.0) as i16).to_le_bytes()
        })
        .collect();
    wav(&WavHeader::pcm16(rate, 1), &data)
}

/// A FLAC stream's STREAMINFO fields, as written.
#[derive(Debug, Clone, Copy)]
pub struct FlacInfo {
    pub rate: u32,
    pub channels: u8,
    pub bits: u8,
    /// 0 means unknown, as the format allows.
    pub total_samples: u64,
    pub block_size: u16,
}

/// A FLAC file of `frames` frames of digital silence (CONSTANT subframes: about 15 bytes per
/// frame whatever the block size, so 20 minutes at 655 kHz fit in 200 kB).
pub fn flac_silence(info: &FlacInfo, frames: u32) -> Vec<u8> {
    let mut b = b"fLaC".to_vec();
    // STREAMINFO, the last metadata block.
    b.extend_from_slice(&[0x80, 0, 0, 34]);
    let mut bits = BitWriter::default();
    bits.put(u64::from(info.block_size), 16);
    bits.put(u64::from(info.block_size), 16);
    bits.put(0, 24);
    bits.put(0, 24);
    bits.put(u64::from(info.rate), 20);
    bits.put(u64::from(info.channels.wrapping_sub(1)), 3);
    bits.put(u64::from(info.bits.wrapping_sub(1)), 5);
    bits.put(info.total_samples, 36);
    bits.put(0, 64);
    bits.put(0, 64);
    b.extend_from_slice(&bits.bytes);
    for frame in 0..frames {
        b.extend_from_slice(&flac_silent_frame(info, frame));
    }
    b
}

/// One fixed-blocksize frame of silence: block size in 16 bits after the header, rate and
/// sample size from STREAMINFO, independent channels, a CONSTANT 0 subframe per channel.
fn flac_silent_frame(info: &FlacInfo, number: u32) -> Vec<u8> {
    let mut f = vec![0xFF, 0xF8, 0x70, (info.channels.wrapping_sub(1) & 7) << 4];
    f.extend_from_slice(&utf8_number(number));
    f.extend_from_slice(&info.block_size.wrapping_sub(1).to_be_bytes());
    f.push(crc8(&f));
    let mut bits = BitWriter::default();
    for _ in 0..info.channels.max(1) {
        bits.put(0, 8);
        bits.put(0, u32::from(info.bits.clamp(1, 32)));
    }
    f.extend_from_slice(&bits.bytes);
    let crc = crc16(&f);
    f.extend_from_slice(&crc.to_be_bytes());
    f
}

/// FLAC's UTF-8-like coding of a frame number.
fn utf8_number(n: u32) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let mut tail = Vec::new();
    let mut rest = n;
    let mut room = 6u32; // payload bits the lead byte still has
    loop {
        tail.push(0x80 | (rest & 0x3F) as u8);
        rest >>= 6;
        room -= 1;
        if rest < (1 << room) {
            break;
        }
    }
    let marker = (0xFF00u16 >> (tail.len() + 1)) as u8;
    let mut out = vec![marker | rest as u8];
    out.extend(tail.into_iter().rev());
    out
}

/// An Ogg Vorbis seed split into its pages.
pub struct OggPages {
    pub pages: Vec<Vec<u8>>,
}

impl OggPages {
    pub fn parse(bytes: &[u8]) -> OggPages {
        let mut pages = Vec::new();
        let mut at = 0;
        while at + 27 <= bytes.len() {
            assert_eq!(&bytes[at..at + 4], b"OggS", "page at {at}");
            let segments = bytes[at + 26] as usize;
            let body: usize = bytes[at + 27..at + 27 + segments]
                .iter()
                .map(|&l| l as usize)
                .sum();
            let len = 27 + segments + body;
            pages.push(bytes[at..at + len].to_vec());
            at += len;
        }
        OggPages { pages }
    }

    /// The pages joined, each page's CRC recomputed.
    pub fn join(&self) -> Vec<u8> {
        self.pages
            .iter()
            .flat_map(|p| {
                let mut p = p.clone();
                fix_ogg_crc(&mut p);
                p
            })
            .collect()
    }

    /// The audio pages repeated `copies` times (granule positions and page numbers continued),
    /// so the stream decodes to `copies` times its length.
    pub fn repeated(&self, copies: usize) -> Vec<u8> {
        let (headers, audio) = self.pages.split_at(2);
        let span = granule(audio.last().unwrap());
        let mut pages: Vec<Vec<u8>> = headers.to_vec();
        let mut sequence = 2u32;
        for copy in 0..copies as u64 {
            for page in audio {
                let mut p = page.clone();
                p[5] &= !0x04; // no end-of-stream flag but on the very last page
                let g = granule(page) + copy * span;
                p[6..14].copy_from_slice(&g.to_le_bytes());
                p[18..22].copy_from_slice(&sequence.to_le_bytes());
                sequence += 1;
                pages.push(p);
            }
        }
        pages.last_mut().unwrap()[5] |= 0x04;
        OggPages { pages }.join()
    }

    /// The Vorbis identification header's fields: (byte offset in page 0, width in bytes, name).
    pub fn vorbis_id_fields() -> &'static [(usize, usize, &'static str)] {
        // Page 0 holds one segment: 27 header bytes, 1 lacing byte, then the packet:
        // 0x01 "vorbis", version, channels, rate, bitrate max/nominal/min, block sizes, framing.
        &[
            (35, 4, "vorbis version"),
            (39, 1, "vorbis channels"),
            (40, 4, "vorbis sample rate"),
            (44, 4, "vorbis bitrate max"),
            (48, 4, "vorbis bitrate nominal"),
            (52, 4, "vorbis bitrate min"),
            (56, 1, "vorbis block sizes"),
            (57, 1, "vorbis framing"),
        ]
    }
}

fn granule(page: &[u8]) -> u64 {
    u64::from_le_bytes(page[6..14].try_into().unwrap())
}

/// Recompute an Ogg page's CRC (the page as given, with its CRC field zeroed first).
pub fn fix_ogg_crc(page: &mut [u8]) {
    if page.len() < 27 {
        return;
    }
    page[22..26].fill(0);
    let crc = crc32_ogg(page);
    page[22..26].copy_from_slice(&crc.to_le_bytes());
}

/// An MP3 "Xing" frame (an MPEG-2 layer III frame of the seed's first header, holding a Xing
/// tag) that claims `frames` MPEG frames, put in front of `seed`.
pub fn mp3_with_xing(seed: &[u8], frames: u32) -> Vec<u8> {
    let header = &seed[..4];
    let len = mp3_frame_len(header).expect("an MPEG audio frame header");
    let mut frame = vec![0u8; len];
    frame[..4].copy_from_slice(header);
    frame[1] |= 1; // no CRC
    let mono = header[3] >> 6 == 3;
    let mpeg1 = header[1] & 0x18 == 0x18;
    let side_info = match (mpeg1, mono) {
        (true, true) => 17,
        (true, false) => 32,
        (false, true) => 9,
        (false, false) => 17,
    };
    let at = 4 + side_info;
    frame[at..at + 4].copy_from_slice(b"Xing");
    frame[at + 4..at + 8].copy_from_slice(&1u32.to_be_bytes()); // frames field present
    frame[at + 8..at + 12].copy_from_slice(&frames.to_be_bytes());
    let mut out = frame;
    out.extend_from_slice(seed);
    out
}

/// Bytes of the MPEG audio frame starting with `header` (layer III).
pub fn mp3_frame_len(header: &[u8]) -> Option<usize> {
    if header.len() < 4 || header[0] != 0xFF || header[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (header[1] >> 3) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    let bitrate_index = (header[2] >> 4) as usize;
    let rate_index = ((header[2] >> 2) & 3) as usize;
    let padding = ((header[2] >> 1) & 1) as usize;
    const V1: [usize; 16] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0,
    ];
    const V2: [usize; 16] = [
        0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0,
    ];
    let kbps = if version == 3 { V1 } else { V2 }[bitrate_index];
    let rate = [
        [11_025, 12_000, 8_000, 0],
        [0; 4],
        [22_050, 24_000, 16_000, 0],
        [44_100, 48_000, 32_000, 0],
    ][version as usize][rate_index];
    if kbps == 0 || rate == 0 {
        return None;
    }
    let per_frame = if version == 3 { 144 } else { 72 };
    Some(per_frame * kbps * 1000 / rate + padding)
}

/// A numeric header field of a file: where it is and how wide, for the header fuzzer.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    /// First bit, counted from the file's first byte (most significant bit first).
    pub bit: usize,
    pub width: u32,
    pub little_endian: bool,
}

impl Field {
    fn le(name: &str, byte: usize, bytes: u32) -> Field {
        Field {
            name: name.into(),
            bit: byte * 8,
            width: bytes * 8,
            little_endian: true,
        }
    }

    fn be(name: &str, bit: usize, width: u32) -> Field {
        Field {
            name: name.into(),
            bit,
            width,
            little_endian: false,
        }
    }

    /// The largest value the field holds.
    pub fn max(&self) -> u64 {
        if self.width >= 64 {
            u64::MAX
        } else {
            (1u64 << self.width) - 1
        }
    }

    /// Write `value` (masked to the width) into `bytes`; false when the field is past the end.
    pub fn set(&self, bytes: &mut [u8], value: u64) -> bool {
        let value = value & self.max();
        if (self.bit + self.width as usize).div_ceil(8) > bytes.len() {
            return false;
        }
        if self.little_endian {
            let at = self.bit / 8;
            for i in 0..(self.width / 8) as usize {
                bytes[at + i] = (value >> (8 * i)) as u8;
            }
        } else {
            for i in 0..self.width as usize {
                let bit = self.bit + i;
                let on = (value >> (self.width as usize - 1 - i)) & 1 == 1;
                let mask = 0x80u8 >> (bit % 8);
                if on {
                    bytes[bit / 8] |= mask;
                } else {
                    bytes[bit / 8] &= !mask;
                }
            }
        }
        true
    }
}

/// Which checksum to recompute after a field changes, so that the change reaches the parser
/// behind the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    None,
    /// The Ogg page starting at this byte.
    OggPage(usize),
    /// The FLAC frame header from this byte, `len` bytes before its CRC-8.
    FlacHeader {
        at: usize,
        len: usize,
    },
}

impl Checksum {
    pub fn fix(self, bytes: &mut [u8]) {
        match self {
            Checksum::None => {}
            Checksum::OggPage(at) => {
                if let Some(len) = ogg_page_len(&bytes[at..]) {
                    fix_ogg_crc(&mut bytes[at..at + len]);
                }
            }
            Checksum::FlacHeader { at, len } => {
                if at + len < bytes.len() {
                    bytes[at + len] = crc8(&bytes[at..at + len]);
                }
            }
        }
    }
}

fn ogg_page_len(page: &[u8]) -> Option<usize> {
    let segments = *page.get(26)? as usize;
    let lacing = page.get(27..27 + segments)?;
    let len = 27 + segments + lacing.iter().map(|&l| l as usize).sum::<usize>();
    (len <= page.len()).then_some(len)
}

/// Every numeric header field of the WAV seed `wav` writes (44-byte header).
pub fn wav_fields() -> Vec<(Field, Checksum)> {
    [
        ("RIFF size", 4, 4),
        ("fmt size", 16, 4),
        ("format tag", 20, 2),
        ("channels", 22, 2),
        ("sample rate", 24, 4),
        ("byte rate", 28, 4),
        ("block align", 32, 2),
        ("bits per sample", 34, 2),
        ("data size", 40, 4),
    ]
    .into_iter()
    .map(|(name, at, bytes)| (Field::le(name, at, bytes), Checksum::None))
    .collect()
}

/// Every numeric field of a FLAC seed from `flac_silence`: the metadata block header,
/// STREAMINFO, and the first frame's header (its CRC-8 recomputed).
pub fn flac_fields() -> Vec<(Field, Checksum)> {
    let frame = 4 + 4 + 34; // first frame header
    let header = Checksum::FlacHeader { at: frame, len: 7 };
    let mut fields = vec![
        (Field::be("block type", 33, 7), Checksum::None),
        (Field::be("block length", 40, 24), Checksum::None),
    ];
    for (name, bit, width) in [
        ("min block size", 0, 16),
        ("max block size", 16, 16),
        ("min frame size", 32, 24),
        ("max frame size", 56, 24),
        ("sample rate", 80, 20),
        ("channels", 100, 3),
        ("bits per sample", 103, 5),
        ("total samples", 108, 36),
    ] {
        fields.push((Field::be(name, 64 + bit, width), Checksum::None));
    }
    for (name, bit, width) in [
        ("frame blocking", 15, 1),
        ("frame block size code", 16, 4),
        ("frame rate code", 20, 4),
        ("frame channels code", 24, 4),
        ("frame sample size code", 28, 3),
        ("frame number", 32, 8),
        ("frame block size", 40, 16),
    ] {
        fields.push((Field::be(name, frame * 8 + bit, width), header));
    }
    // The first subframe's type (6 bits after a zero pad bit).
    fields.push((
        Field::be("subframe type", (frame + 8) * 8 + 1, 6),
        Checksum::None,
    ));
    fields
}

/// Every numeric field of the Ogg Vorbis seed's first two pages: each page header's fields and
/// the identification header's, with the page CRC recomputed.
pub fn ogg_fields(pages: &OggPages) -> Vec<(Field, Checksum)> {
    let mut fields = Vec::new();
    let mut at = 0;
    for (index, page) in pages.pages.iter().take(3).enumerate() {
        for (name, offset, bytes) in [
            ("version", 4, 1),
            ("flags", 5, 1),
            ("granule", 6, 8),
            ("serial", 14, 4),
            ("sequence", 18, 4),
            ("segments", 26, 1),
            ("first lacing", 27, 1),
        ] {
            fields.push((
                Field::le(&format!("page {index} {name}"), at + offset, bytes),
                Checksum::OggPage(at),
            ));
        }
        if index == 1 {
            // The setup header's first codebook: entries (24 bits) and dimensions (16 bits)
            // size its lookup tables.
            if let Some(setup) = find(page, b"\x05vorbis") {
                let books = at + setup + 7;
                fields.push((Field::le("codebook count", books, 1), Checksum::OggPage(at)));
                fields.push((
                    Field::le("codebook dimensions", books + 4, 2),
                    Checksum::OggPage(at),
                ));
                fields.push((
                    Field::le("codebook entries", books + 6, 3),
                    Checksum::OggPage(at),
                ));
            }
        }
        at += page.len();
    }
    for &(offset, bytes, name) in OggPages::vorbis_id_fields() {
        fields.push((Field::le(name, offset, bytes as u32), Checksum::OggPage(0)));
    }
    fields
}

/// Every numeric field of an MP3 seed's first frame header, of a Xing tag put in front, and of
/// an ID3v2 tag's header.
pub fn mp3_fields() -> Vec<(Field, Checksum)> {
    let mut fields = Vec::new();
    for (name, bit, width) in [
        ("version", 11, 2),
        ("layer", 13, 2),
        ("no crc", 15, 1),
        ("bitrate index", 16, 4),
        ("rate index", 20, 2),
        ("padding", 22, 1),
        ("channel mode", 24, 2),
        ("mode extension", 26, 2),
        ("emphasis", 30, 2),
    ] {
        fields.push((Field::be(name, bit, width), Checksum::None));
    }
    fields
}

/// The ID3v2 tag header's fields when a tag of `ID3v2_LEN` bytes leads the file.
pub fn id3_fields() -> Vec<(Field, Checksum)> {
    vec![
        (Field::be("id3 version", 24, 16), Checksum::None),
        (Field::be("id3 flags", 40, 8), Checksum::None),
        (Field::be("id3 size", 48, 32), Checksum::None),
        (
            Field::be("id3 frame size", (10 + 4) * 8, 32),
            Checksum::None,
        ),
    ]
}

/// An ID3v2.3 tag with one text frame, in front of `mp3`.
pub fn with_id3(mp3: &[u8]) -> Vec<u8> {
    let text = b"\x00hostile";
    let mut frame = b"TIT2".to_vec();
    frame.extend_from_slice(&(text.len() as u32).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(text);
    let size = frame.len() as u32;
    let syncsafe = [
        (size >> 21) as u8 & 0x7F,
        (size >> 14) as u8 & 0x7F,
        (size >> 7) as u8 & 0x7F,
        size as u8 & 0x7F,
    ];
    let mut tag = b"ID3\x03\x00\x00".to_vec();
    tag.extend_from_slice(&syncsafe);
    tag.extend_from_slice(&frame);
    tag.extend_from_slice(mp3);
    tag
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    used: u32,
}

impl BitWriter {
    fn put(&mut self, value: u64, width: u32) {
        for i in (0..width).rev() {
            if self.used.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if (value >> i) & 1 == 1 {
                *self.bytes.last_mut().unwrap() |= 0x80 >> (self.used % 8);
            }
            self.used += 1;
        }
    }
}

fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in bytes {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn crc32_ogg(bytes: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in bytes {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A named hostile input and what must happen to it under a 60 s limit: refused (exit 3,
/// 4xx), or decoded (it is a real recording within the limit).
pub struct Hostile {
    pub name: String,
    pub bytes: Vec<u8>,
    pub decodes: bool,
}

/// The hostile inputs every entry is tested with (the fixtures directory gives the seeds).
pub fn hostile_inputs(fixtures: &std::path::Path) -> Vec<Hostile> {
    let mut all = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>, decodes: bool| {
        all.push(Hostile {
            name: name.to_string(),
            bytes,
            decodes,
        })
    };
    let tiny_data = vec![0u8; 64];
    for rate in [4_294_967_291u32, 99_999_989, 0, 1, 999, 384_001] {
        add(
            &format!("rate_{rate}hz.wav"),
            wav(&WavHeader::pcm16(rate, 1), &tiny_data),
            false,
        );
    }
    add(
        "rate_1hz_20kb.wav",
        wav(&WavHeader::pcm16(1, 1), &vec![0u8; 20_000]),
        false,
    );
    for channels in [0u16, 33, 65_535] {
        add(
            &format!("channels_{channels}.wav"),
            wav(&WavHeader::pcm16(16_000, channels), &tiny_data),
            false,
        );
    }
    for bits in [0u16, 7, 64] {
        let header = WavHeader {
            bits,
            ..WavHeader::pcm16(16_000, 1)
        };
        add(&format!("bits_{bits}.wav"), wav(&header, &tiny_data), false);
    }
    let lying = WavHeader {
        data_len: Some(0x7FFF_FFF0),
        ..WavHeader::pcm16(16_000, 1)
    };
    add("data_longer_than_file.wav", wav(&lying, &tiny_data), false);
    add("ten_minutes.wav", wav_tone(8_000, 600.0), false);
    // Real recordings within the limit, at the edges of the accepted ranges (an odd rate makes
    // the resampler's largest blocks).
    // (Silence: a tone sends a decoder into its temperature fallbacks, which is not what is
    // measured here.)
    let silent = |rate: u32, seconds: u32| {
        wav(
            &WavHeader::pcm16(rate, 1),
            &vec![0u8; (rate * seconds * 2) as usize],
        )
    };
    add("edge_1000hz.wav", silent(1_000, 5), true);
    add("edge_383999hz.wav", silent(383_999, 3), true);
    add(
        "edge_32_channels.wav",
        wav(&WavHeader::pcm16(16_000, 32), &vec![0u8; 16_000 * 2 * 32]),
        true,
    );

    let silence = |rate: u32, seconds: u64, total: bool| {
        let block_size = 65_535u16;
        let samples = u64::from(rate) * seconds;
        let info = FlacInfo {
            rate,
            channels: 1,
            bits: 16,
            total_samples: if total { samples } else { 0 },
            block_size,
        };
        flac_silence(&info, samples.div_ceil(u64::from(block_size)) as u32)
    };
    add(
        "flac_655khz_20min.flac",
        silence(655_350, 1200, true),
        false,
    );
    add(
        "flac_384khz_claims_10h.flac",
        {
            let info = FlacInfo {
                rate: 384_000,
                channels: 2,
                bits: 16,
                total_samples: 384_000 * 36_000,
                block_size: 4096,
            };
            flac_silence(&info, 4)
        },
        false,
    );
    add(
        "flac_10min_silence_unknown_length.flac",
        silence(16_000, 600, false),
        false,
    );
    add("flac_10min_silence.flac", silence(16_000, 600, true), false);
    add(
        "flac_20s_silence_48khz.flac",
        silence(48_000, 20, true),
        true,
    );

    let ogg_seed = std::fs::read(fixtures.join("audio/speech_espeak_16k.ogg")).unwrap();
    let pages = OggPages::parse(&ogg_seed);
    add("ogg_12min.ogg", pages.repeated(225), false);
    let mut claims = OggPages::parse(&ogg_seed);
    let last = claims.pages.last_mut().unwrap();
    last[6..14].copy_from_slice(&(16_000u64 * 36_000).to_le_bytes());
    add("ogg_claims_10h.ogg", claims.join(), false);
    for (name, offset, value) in [
        ("ogg_rate_384001.ogg", 40usize, 384_001u32),
        ("ogg_rate_0.ogg", 40, 0),
        ("ogg_rate_2pow32_minus5.ogg", 40, 4_294_967_291),
    ] {
        let mut p = OggPages::parse(&ogg_seed);
        p.pages[0][offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        add(name, p.join(), false);
    }
    for channels in [0u8, 33, 255] {
        let mut p = OggPages::parse(&ogg_seed);
        p.pages[0][39] = channels;
        add(&format!("ogg_channels_{channels}.ogg"), p.join(), false);
    }

    let mp3_seed = std::fs::read(fixtures.join("audio/speech_espeak_16k.mp3")).unwrap();
    add(
        "mp3_claims_10h.mp3",
        mp3_with_xing(&mp3_seed, 0xFFFF_FFF0),
        false,
    );
    add("mp3_repeated_4min.mp3", mp3_seed.repeat(72), false);
    add("mp3_real.mp3", mp3_seed, true);
    all
}
