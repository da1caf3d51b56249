// GPT-2's byte-level scheme as the `tokenizers` library's ByteLevel pre-tokenizer and decoder do it:
// text is split by the GPT-2 regex, each piece's UTF-8 bytes are spelled with a 256-character alphabet
// (printable Latin-1 stands for itself, the other bytes map to U+0100...), and BPE runs on that spelling.
//
// The regex (tokenizers/src/pre_tokenizers/byte_level.rs, matched by Oniguruma):
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// is implemented by hand below; every character is a letter (\p{L}: Lu Ll Lt Lm Lo), a number (\p{N}:
// Nd Nl No), whitespace (\s: Oniguruma's Unicode \s = U+0009-000D, U+0085, Zs, Zl, Zp, which is the
// White_Space property) or other. U+001C-001F are not whitespace here (Python's isspace says they are).
// Characters that Unicode assigned after 16.0 (Oniguruma's tables) count as other, as unassigned ones do.

enum ByteLevel {
  /// byte -> the character that spells it (GPT-2 `bytes_to_unicode`).
  static let byteToScalar: [UnicodeScalar] = {
    var printable: [Int] = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
    var scalars = printable
    var extra = 0
    for b in 0..<256 where !printable.contains(b) {
      printable.append(b)
      scalars.append(256 + extra)
      extra += 1
    }
    var table = [UnicodeScalar](repeating: " ", count: 256)
    for (b, s) in zip(printable, scalars) { table[b] = UnicodeScalar(UInt32(s)) ?? " " }
    return table
  }()

  /// character -> byte, the inverse (only the 256 alphabet characters have one).
  static let scalarToByte: [UInt32: UInt8] = {
    var map: [UInt32: UInt8] = [:]
    for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
    return map
  }()

  /// The byte-level spelling of some bytes, as a vocabulary key.
  static func spell<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    var s = String.UnicodeScalarView()
    for b in bytes { s.append(byteToScalar[Int(b)]) }
    return String(s)
  }

  /// What a token string decodes to (tokenizers' ByteLevel decoder, per token): the bytes its characters
  /// spell if every character is in the alphabet, otherwise the token's own UTF-8 (an added token).
  static func bytes(ofToken token: String) -> [UInt8] {
    var out: [UInt8] = []
    for s in token.unicodeScalars {
      guard let b = scalarToByte[s.value] else { return Array(token.utf8) }
      out.append(b)
    }
    return out
  }
}

/// Character classes of the GPT-2 regex.
enum CharClass: UInt8 {
  case letter, number, whitespace, other

  /// Unicode version of the reference's regex tables (tokenizers 0.23 -> onig_sys -> Oniguruma 6.9.10).
  static let newestUnicodeMajor = 16

  @inline(__always)
  static func of(_ value: UInt32) -> CharClass {
    if value < 128 {
      // a-z, A-Z; 0-9; \t \n \v \f \r and space; the rest of ASCII is other (\x1c-\x1f included)
      if (value | 0x20) &- 0x61 < 26 { return .letter }
      if value &- 0x30 < 10 { return .number }
      if value == 0x20 || value &- 0x09 < 5 { return .whitespace }
      return .other
    }
    guard let scalar = UnicodeScalar(value) else { return .other }
    return classify(scalar)
  }

  private static func classify(_ scalar: UnicodeScalar) -> CharClass {
    let p = scalar.properties
    if p.isWhitespace { return .whitespace }
    // The reference's Oniguruma knows Unicode 16.0; characters assigned later are unassigned (other) to it.
    guard let age = p.age, age.major <= newestUnicodeMajor else { return .other }
    switch p.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
    case .decimalNumber, .letterNumber, .otherNumber: return .number
    default: return .other
    }
  }
}

/// Splits UTF-8 text into the GPT-2 regex's matches, trying the alternatives in the regex's order at
/// each position.
enum ByteLevelSplitter {
  /// Calls `body` with the byte range of each match in `bytes[range]` (valid UTF-8), in order.
  @inline(__always)
  static func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
    let end = range.upperBound
    @inline(__always) func char(_ i: Int) -> (cls: CharClass, length: Int) {
      let b = bytes[i]
      if b < 0x80 { return (CharClass.of(UInt32(b)), 1) }
      let (value, length) = UTF8Text.decodeScalar(bytes, i)
      return (CharClass.of(value), length)
    }
    var i = range.lowerBound
    while i < end {
      let (cls0, length0) = char(i)
      let b0 = bytes[i]
      // 's 't 're 've 'm 'll 'd (lowercase ASCII only; ASCII bytes never occur inside a multibyte character)
      if b0 == 0x27 && i + 1 < end {
        let x = bytes[i + 1]
        var match = 0
        if x == 0x73 || x == 0x74 || x == 0x6D || x == 0x64 {  // s t m d
          match = 2
        } else if i + 2 < end {
          let y = bytes[i + 2]
          if ((x == 0x72 || x == 0x76) && y == 0x65) || (x == 0x6C && y == 0x6C) { match = 3 }  // re ve ll
        }
        if match > 0 {
          body(i..<(i + match))
          i += match
          continue
        }
      }
      // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional U+0020, then a run of one class.
      var first = i, cls = cls0
      if b0 == 0x20 && i + 1 < end {
        let next = char(i + 1).cls
        if next != .whitespace { (first, cls) = (i + 1, next) }
      }
      if cls != .whitespace {
        var j = first
        while j < end {
          let (c, length) = char(j)
          if c != cls { break }
          j += length
        }
        body(i..<j)
        i = j
        continue
      }
      // `\s+(?!\S)`: a whitespace run, less its last character when a non-space follows it;
      // `\s+`: a single whitespace character followed by a non-space.
      var last = i, j = i + length0
      while j < end {
        let (c, length) = char(j)
        if c != .whitespace { break }
        last = j
        j += length
      }
      let stop = (j == end || last == i) ? j : last
      body(i..<stop)
      i = stop
    }
  }
}
