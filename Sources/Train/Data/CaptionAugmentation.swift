// Caption augmentation as the reference script's `shuffle_caption` (rockerBOO/caption-train @1cc61c9
// caption_train/captions.py): split on ", ", strip each part (Python's str.strip whitespace), keep the first
// `frozenParts` in place, keep each other part when random() > dropout, shuffle the kept ones with random.shuffle, join
// with ", ". With a PythonRandom in the same state, the result is the string the reference script's function returns
// (fixture-tested).
//
// Where flr differs (on purpose):
// - frozenParts larger than the number of parts freezes them all (the reference script raises IndexError from
// list.pop).
// - The reference script only runs this when --shuffle_captions is set, and its image/caption-pair dataset does not
// pass
//   frozen_parts or caption_dropout through at all; here `dropout` also works without `shuffle` (parts are then
//   dropped but kept in order, drawing one random() per unfrozen part and no shuffle).
// - With neither shuffle nor dropout the caption is returned untouched (no split, no strip), as in the reference
// script.

public struct CaptionAugmentation: Sendable, Equatable {
  public var shuffle: Bool
  /// Leading parts (split on ", ") that keep their place and are never dropped.
  public var frozenParts: Int
  /// Probability that each unfrozen part is dropped.
  public var dropout: Double

  public init(shuffle: Bool = false, frozenParts: Int = 0, dropout: Double = 0) {
    self.shuffle = shuffle
    self.frozenParts = frozenParts
    self.dropout = dropout
  }

  public static let none = CaptionAugmentation()

  public var isIdentity: Bool { !shuffle && dropout <= 0 }

  /// The augmented caption; draws from `rng` exactly as the reference script draws from Python's `random`.
  public func apply(_ caption: String, rng: inout PythonRandom) -> String {
    if isIdentity { return caption }
    var parts = Self.parts(of: caption)
    let frozen = Array(parts.prefix(max(0, frozenParts)))
    parts.removeFirst(frozen.count)
    if dropout > 0 { parts = parts.filter { _ in rng.random() > dropout } }
    if shuffle { rng.shuffle(&parts) }
    return (frozen + parts).joined(separator: ", ")
  }

  /// `[part.strip() for part in text.split(", ")]`. ", " is ASCII, so splitting the UTF-8 bytes is exactly
  /// Python's code-point split (Swift's Character-based search could merge ", " with a following combining mark).
  static func parts(of text: String) -> [String] {
    let bytes = Array(text.utf8)
    var parts: [String] = []
    var start = 0
    var i = 0
    while i + 1 < bytes.count {
      if bytes[i] == 0x2C && bytes[i + 1] == 0x20 {
        parts.append(String(decoding: bytes[start..<i], as: UTF8.self))
        i += 2
        start = i
      } else {
        i += 1
      }
    }
    parts.append(String(decoding: bytes[start...], as: UTF8.self))
    return parts.map(PythonText.strip)
  }
}

/// Python's notion of whitespace, for `str.strip()` and line handling.
enum PythonText {
  /// `str.isspace()` code points: bidi class WS, B or S, or category Zs (CPython's _PyUnicode_IsWhitespace).
  static func isSpace(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
      return true
    default: return false
    }
  }

  /// `str.strip()` with no argument.
  static func strip(_ text: String) -> String {
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
    let last = scalars.lastIndex(where: { !isSpace($0) })!  // exists: `first` does
    return String(scalars[first...last])
  }
}
