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

  static let ascii: [CharClass] = (0..<128).map { v in
    classify(UnicodeScalar(UInt8(v)))
  }

  static func of(_ value: UInt32) -> CharClass {
    if value < 128 { return ascii[Int(value)] }
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

/// Splits UTF-8 text into the GPT-2 regex's matches. Reuses its buffers between calls.
struct ByteLevelSplitter {
  private var classes: [CharClass] = []
  private var starts: [Int] = []  // byte offset of each character, plus the end
  private var values: [UInt32] = []

  /// Appends the byte ranges of the matches in `bytes[range]` (valid UTF-8) to `pieces`.
  mutating func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into pieces: inout [Range<Int>]) {
    classes.removeAll(keepingCapacity: true)
    starts.removeAll(keepingCapacity: true)
    values.removeAll(keepingCapacity: true)
    var i = range.lowerBound
    while i < range.upperBound {
      let (value, length) = UTF8Text.decodeScalar(bytes, i)
      classes.append(CharClass.of(value))
      starts.append(i)
      values.append(value)
      i += length
    }
    starts.append(range.upperBound)

    let n = classes.count
    var c = 0
    while c < n {
      let end = matchEnd(at: c, count: n)
      pieces.append(starts[c]..<starts[end])
      c = end
    }
  }

  /// End (exclusive, in characters) of the regex match starting at character `c`, trying the
  /// alternatives in the regex's order.
  private func matchEnd(at c: Int, count n: Int) -> Int {
    let apostrophe: UInt32 = 0x27, space: UInt32 = 0x20
    // 's 't 're 've 'm 'll 'd (lowercase ASCII only)
    if values[c] == apostrophe, c + 1 < n {
      let x = values[c + 1]
      if x == 0x73 || x == 0x74 || x == 0x6D || x == 0x64 { return c + 2 }  // s t m d
      if c + 2 < n {
        let y = values[c + 2]
        if (x == 0x72 || x == 0x76) && y == 0x65 { return c + 3 }  // re ve
        if x == 0x6C && y == 0x6C { return c + 3 }  // ll
      }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional U+0020 then a run of one class.
    var first = c
    if values[c] == space, c + 1 < n, classes[c + 1] != .whitespace { first = c + 1 }
    let cls = classes[first]
    if cls != .whitespace {
      var e = first + 1
      while e < n && classes[e] == cls { e += 1 }
      return e
    }
    // `\s+(?!\S)`: a whitespace run, less its last character when a non-space follows it;
    // `\s+` takes a single whitespace character followed by a non-space.
    var e = c + 1
    while e < n && classes[e] == .whitespace { e += 1 }
    if e == n || e - c == 1 { return e }
    return e - 1
  }
}
