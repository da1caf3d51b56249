// A small strict JSON parser for safetensors headers and shard indexes. Written here rather than taken
// from Foundation so that a hostile header cannot recurse without bound (depth is capped), integers
// stay exact, and every error says where in the text it is.

enum JSON: Equatable {
  case null
  case bool(Bool)
  /// `exact` is set when the literal is an integer that fits an Int.
  case number(Double, exact: Int?)
  case string(String)
  case array([JSON])
  /// Members in file order (duplicates kept; callers decide).
  case object([(String, JSON)])

  static func == (a: JSON, b: JSON) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x, let i), .number(let y, let j)): return x == y && i == j
    case (.string(let x), .string(let y)): return x == y
    case (.array(let x), .array(let y)): return x == y
    case (.object(let x), .object(let y)): return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
    default: return false
    }
  }

  var int: Int? { if case .number(_, let i) = self { return i } else { return nil } }
  var string: String? { if case .string(let s) = self { return s } else { return nil } }
  var array: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
  var object: [(String, JSON)]? { if case .object(let o) = self { return o } else { return nil } }

  static let maxDepth = 64

  /// Parses `bytes` as one JSON value (surrounding whitespace allowed). Errors are plain sentences.
  static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONError) -> JSON {
    var parser = JSONParser(bytes: bytes)
    parser.skipSpace()
    let value = try parser.value(depth: 0)
    parser.skipSpace()
    guard parser.at == bytes.count else { throw parser.fail("unexpected text after the JSON value") }
    return value
  }
}

struct JSONError: Error { let message: String }

private struct JSONParser {
  let bytes: UnsafeRawBufferPointer
  var at = 0

  init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  func fail(_ why: String) -> JSONError { JSONError(message: "invalid JSON at byte \(at): \(why)") }

  var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

  mutating func skipSpace() {
    while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { at += 1 }
  }

  mutating func expect(_ literal: String) throws(JSONError) {
    for c in literal.utf8 {
      guard peek == c else { throw fail("expected '\(literal)'") }
      at += 1
    }
  }

  mutating func value(depth: Int) throws(JSONError) -> JSON {
    guard depth < JSON.maxDepth else { throw fail("nested deeper than \(JSON.maxDepth)") }
    guard let c = peek else { throw fail("unexpected end") }
    switch c {
    case UInt8(ascii: "{"):
      at += 1
      var members: [(String, JSON)] = []
      skipSpace()
      if peek == UInt8(ascii: "}") {
        at += 1
        return .object(members)
      }
      while true {
        skipSpace()
        guard peek == UInt8(ascii: "\"") else { throw fail("expected a member name") }
        let key = try string()
        skipSpace()
        try expect(":")
        skipSpace()
        members.append((key, try value(depth: depth + 1)))
        skipSpace()
        if peek == UInt8(ascii: ",") { at += 1; continue }
        try expect("}")
        return .object(members)
      }
    case UInt8(ascii: "["):
      at += 1
      var items: [JSON] = []
      skipSpace()
      if peek == UInt8(ascii: "]") {
        at += 1
        return .array(items)
      }
      while true {
        skipSpace()
        items.append(try value(depth: depth + 1))
        skipSpace()
        if peek == UInt8(ascii: ",") { at += 1; continue }
        try expect("]")
        return .array(items)
      }
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"): try expect("true"); return .bool(true)
    case UInt8(ascii: "f"): try expect("false"); return .bool(false)
    case UInt8(ascii: "n"): try expect("null"); return .null
    default: return try number()
    }
  }

  mutating func number() throws(JSONError) -> JSON {
    let start = at
    if peek == UInt8(ascii: "-") { at += 1 }
    var integral = true
    var digits = 0
    while let c = peek {
      if c >= 0x30 && c <= 0x39 {
        digits += 1
      } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+")
        || (c == UInt8(ascii: "-") && at > start)
      {
        integral = false
      } else {
        break
      }
      at += 1
    }
    let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
    guard digits > 0, let value = Double(text) else { throw fail("bad value '\(text.prefix(20))'") }
    return .number(value, exact: integral ? Int(text) : nil)
  }

  mutating func string() throws(JSONError) -> String {
    at += 1  // opening quote
    var out: [UInt8] = []
    while true {
      guard let c = peek else { throw fail("unterminated string") }
      at += 1
      if c == UInt8(ascii: "\"") { break }
      if c < 0x20 { throw fail("control character in string") }
      guard c == UInt8(ascii: "\\") else {
        out.append(c)
        continue
      }
      guard let e = peek else { throw fail("unterminated escape") }
      at += 1
      switch e {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"):
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar), peek == UInt8(ascii: "\\") {
          at += 1
          try expect("u")
          let low = try hex4()
          guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
          scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
        out.append(contentsOf: Array(String(Character(u)).utf8))
      default: throw fail("unknown escape")
      }
    }
    guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not UTF-8") }
    return s
  }

  mutating func hex4() throws(JSONError) -> UInt32 {
    var v: UInt32 = 0
    for _ in 0..<4 {
      guard let c = peek, let d = Int(String(UnicodeScalar(c)), radix: 16) else { throw fail("bad \\u escape") }
      v = v << 4 | UInt32(d)
      at += 1
    }
    return v
  }
}

/// JSON text for a string (the writer's header).
func jsonQuoted(_ s: String) -> String {
  var out = "\""
  for u in s.unicodeScalars {
    switch u {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\r": out += "\\r"
    case "\t": out += "\\t"
    default:
      if u.value < 0x20 {
        let hex = String(u.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      } else {
        out.unicodeScalars.append(u)
      }
    }
  }
  return out + "\""
}
