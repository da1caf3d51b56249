// The reference script's form of `--optimizer_args`: the subset of Python literals `ast.literal_eval` accepts that an
// optimizer can use: a dict of string keys to numbers, True/False/None, strings and tuples/lists of numbers.

import Foundation

extension OptimizerArgs {
  static func parseDictLiteral(_ text: String) throws -> OptimizerArgs {
    var p = LiteralScanner(Array(text.unicodeScalars))
    var args = OptimizerArgs()
    try p.expect("{")
    p.skipSpace()
    if p.peek == "}" {
      p.index += 1
    } else {
      while true {
        let key = try p.string()
        try p.expect(":")
        try args.set(key, try p.value(key: key))
        p.skipSpace()
        if p.peek == "," {
          p.index += 1
          p.skipSpace()
          if p.peek == "}" {  // trailing comma
            p.index += 1
            break
          }
          continue
        }
        try p.expect("}")
        break
      }
    }
    p.skipSpace()
    guard p.atEnd else { throw p.error("unexpected text after the closing '}'") }
    return args
  }
}

private struct LiteralScanner {
  let s: [Unicode.Scalar]
  var index = 0
  init(_ s: [Unicode.Scalar]) { self.s = s }

  var atEnd: Bool { index >= s.count }
  var peek: Unicode.Scalar? { atEnd ? nil : s[index] }

  func error(_ message: String) -> OptimizerError {
    .badArgument("optimizer_args: \(message) at character \(index + 1) of the dict literal")
  }

  mutating func skipSpace() {
    while let c = peek, c == " " || c == "\t" || c == "\n" || c == "\r" { index += 1 }
  }

  mutating func expect(_ c: Unicode.Scalar) throws {
    skipSpace()
    guard peek == c else { throw error("expected '\(c)'") }
    index += 1
  }

  mutating func string() throws -> String {
    skipSpace()
    guard let quote = peek, quote == "'" || quote == "\"" else { throw error("expected a quoted key") }
    index += 1
    var out = ""
    while let c = peek, c != quote {
      out.unicodeScalars.append(c)
      index += 1
    }
    guard peek == quote else { throw error("unterminated string") }
    index += 1
    return out
  }

  mutating func word() -> String {
    var out = ""
    while let c = peek, c.properties.isAlphabetic || ("0"..."9").contains(c) || "+-._".unicodeScalars.contains(c) {
      out.unicodeScalars.append(c)
      index += 1
    }
    return out
  }

  mutating func value(key: String) throws -> OptimizerArgValue {
    skipSpace()
    guard let c = peek else { throw error("missing value for '\(key)'") }
    if c == "'" || c == "\"" { return .string(try string()) }
    if c == "(" || c == "[" {
      let close: Unicode.Scalar = c == "(" ? ")" : "]"
      index += 1
      var numbers: [Double] = []
      while true {
        skipSpace()
        if peek == close {
          index += 1
          break
        }
        let w = word()
        guard let d = Double(w) else { throw error("'\(key)' holds '\(w)', expected numbers only") }
        numbers.append(d)
        skipSpace()
        if peek == "," {
          index += 1
        } else if peek != close {
          throw error("expected ',' or '\(close)' in '\(key)'")
        }
      }
      return .tuple(numbers)
    }
    let w = word()
    switch w {
    case "True": return .bool(true)
    case "False": return .bool(false)
    case "None": return .none
    default:
      guard let d = Double(w) else { throw error("'\(key)': '\(w)' is not a Python literal flr understands") }
      return .number(d)
    }
  }
}
